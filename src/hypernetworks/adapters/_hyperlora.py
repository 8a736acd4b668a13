"""HyperLoRA: one hypernetwork generating the LoRA factors of a Hugging Face model."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .. import LayerWise, TaskEmbedding, hypernetize
from .._checks import check_hidden, check_positive_int, describe
from .._conditioners import Conditioner
from ._descriptions import DescriptionEmbedding, mean_pool, sentence_encoder

__all__ = ["HyperLoRA", "check_target_modules", "check_transformer", "lora_model"]


def check_transformer(model: object) -> nn.Module:
    """``model`` if it is a Hugging Face ``PreTrainedModel``, else a TypeError."""
    try:
        from transformers import PreTrainedModel
    except ImportError as error:  # pragma: no cover - the extra is missing
        raise ImportError(
            "hypernetworks.adapters needs transformers and peft: "
            "pip install 'hypernetworks[adapters]'"
        ) from error
    if not isinstance(model, PreTrainedModel):
        raise TypeError(
            "model must be a Hugging Face transformers PreTrainedModel (e.g. from "
            f"AutoModel.from_pretrained), got {describe(model)}"
        )
    return model


def check_target_modules(model: nn.Module, target_modules: Sequence[str]) -> list[str]:
    """The names in ``target_modules`` (matched as peft does for a list: a module whose
    name is, or ends in ``.`` +, the entry) that match a ``nn.Linear`` of ``model``."""
    if isinstance(target_modules, str) or not isinstance(target_modules, (list, tuple)):
        raise TypeError(
            f"target_modules must be a list of module names, got {describe(target_modules)}"
        )
    if not target_modules or not all(isinstance(t, str) and t for t in target_modules):
        raise ValueError(
            f"target_modules must be a non-empty list of module names, got {target_modules!r}"
        )
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    unmatched = [
        t for t in target_modules if not any(n == t or n.endswith("." + t) for n in linear)
    ]
    if unmatched:
        endings = sorted({n.rpartition(".")[2] for n in linear})
        raise ValueError(
            f"target_modules {unmatched} match no linear layer of {type(model).__name__}; "
            f"its linear layers are named {endings}"
        )
    return list(target_modules)


def lora_model(
    model: nn.Module,
    target_modules: Sequence[str] = ("query", "value"),
    *,
    rank: int = 8,
    alpha: int = 16,
) -> nn.Module:
    """A peft LoRA model over a copy of ``model`` (``model`` itself is left untouched)."""
    import peft

    check_transformer(model)
    modules = check_target_modules(model, target_modules)
    config = peft.LoraConfig(
        r=check_positive_int(rank, "rank"),
        lora_alpha=alpha,
        target_modules=modules,
        lora_dropout=0.0,
    )
    return peft.get_peft_model(copy.deepcopy(model), config)


class HyperLoRA(nn.Module):
    """A hypernetwork generating the LoRA factors of chosen modules of a transformer.

    One hypernetwork, shared by all tasks (HyperFormer, Mahabadi et al. 2021), generates
    every ``lora_A``/``lora_B`` of the modules named in ``target_modules`` (as in peft),
    from either a task id (``num_tasks``) or a task description (``tokenizer``: the
    description is embedded by a frozen copy of ``model`` itself, so an unseen task gets
    adapters from its description alone, as in HyperLoRA and Text-to-LoRA). With
    ``layer_dim`` the generator is shared across layers and fed a learned embedding per
    generated tensor (HyperFormer's layer embedding); with ``layer_dim=None`` a plain
    output layer emits every factor. At initialisation the model computes exactly what
    ``model`` computed (``lora_B`` starts at zero).

    Call it as ``hyper(inputs, tasks)``: one task (an int, or a string) for the batch, or
    one per sample (a 1-D tensor of ids, or a list of strings) — a mixed-task batch runs
    in one forward pass, each sample with its own task's adapters.

    Args:
        model: a Hugging Face ``PreTrainedModel`` (left untouched).
        num_tasks: condition on task ids ``0 .. num_tasks - 1``.
        tokenizer: condition on task descriptions, embedded by the frozen model.
        target_modules: names of the linear layers that get LoRA factors.
        rank, alpha: LoRA's rank and scaling numerator.
        task_dim: size of the condition embedding.
        hidden: widths of the hypernetwork body.
        layer_dim: size of the per-tensor (layer) embeddings, or None.
        generator_hidden: width of the shared generator's hidden layer (with layer_dim).

    Raises:
        TypeError: ``model`` is not a transformer; ``target_modules`` is not a list.
        ValueError: both or neither of ``num_tasks`` and ``tokenizer``; ``target_modules``
            matches no linear layer.

    Example:
        >>> import transformers
        >>> config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2,
        ...     num_attention_heads=2, intermediate_size=64, vocab_size=100)
        >>> hyper = HyperLoRA(transformers.BertModel(config), num_tasks=3, rank=2)
        >>> ids = torch.tensor([[1, 5, 7, 2], [1, 9, 2, 0]])
        >>> inputs = {"input_ids": ids, "attention_mask": (ids > 0).long()}
        >>> hyper(inputs, torch.tensor([0, 2])).last_hidden_state.shape
        torch.Size([2, 4, 32])
        >>> type(hyper.materialize(1)).__name__
        'BertModel'
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        num_tasks: int | None = None,
        tokenizer: object = None,
        target_modules: Sequence[str] = ("query", "value"),
        rank: int = 8,
        alpha: int = 16,
        task_dim: int = 16,
        hidden: tuple[int, ...] = (32,),
        layer_dim: int | None = 8,
        generator_hidden: int = 16,
    ) -> None:
        super().__init__()
        check_transformer(model)
        if (num_tasks is None) == (tokenizer is None):
            raise ValueError(
                "give exactly one of num_tasks (condition on task ids) and tokenizer "
                f"(condition on task descriptions), got num_tasks={num_tasks!r} and "
                f"tokenizer={'None' if tokenizer is None else type(tokenizer).__name__}"
            )
        conditioner: Conditioner
        if num_tasks is not None:
            conditioner = TaskEmbedding(check_positive_int(num_tasks, "num_tasks"), task_dim)
        else:
            if not callable(tokenizer):
                raise TypeError(f"tokenizer must be callable, got {describe(tokenizer)}")
            frozen = copy.deepcopy(model).eval().requires_grad_(False)
            width = int(getattr(model.config, "hidden_size", 0)) or _width(frozen, tokenizer)
            conditioner = DescriptionEmbedding(sentence_encoder(frozen, tokenizer), width, task_dim)
        self.by_description = tokenizer is not None
        lora = lora_model(model, target_modules, rank=rank, alpha=alpha)
        head: LayerWise | str = "full"
        if layer_dim is not None:
            head = LayerWise(check_positive_int(layer_dim, "layer_dim"), hidden=generator_hidden)
        self.hyper = hypernetize(
            lora,
            conditioner,
            params=["*lora_A*", "*lora_B*"],
            head=head,
            hidden=check_hidden(hidden),
        )
        self.target_modules = tuple(target_modules)

    def forward(self, inputs: Mapping[str, Tensor], tasks: object, **kwargs: object) -> object:
        """The model's output for ``inputs`` (keyword inputs, e.g. a tokenizer's batch)
        with the adapters of ``tasks`` (one task, or one per sample)."""
        return self.hyper(dict(inputs), self._condition(tasks), **kwargs)

    def encode(self, inputs: Mapping[str, Tensor], tasks: object) -> Tensor:
        """Mean-pooled, normalised sentence embeddings ``[B, d]`` under ``tasks``' adapters."""
        out: Any = self(inputs, tasks)
        return mean_pool(out.last_hidden_state, inputs["attention_mask"])

    def _condition(self, tasks: object) -> object:
        if self.by_description:
            if not isinstance(tasks, (str, list, tuple)):
                raise TypeError(
                    "this HyperLoRA is conditioned on task descriptions: give a string or a "
                    f"list of strings, got {describe(tasks)}"
                )
        elif isinstance(tasks, str) or (
            isinstance(tasks, (list, tuple)) and any(isinstance(t, str) for t in tasks)
        ):
            raise TypeError(
                "this HyperLoRA is conditioned on task ids (num_tasks), got a description; "
                "build it with tokenizer=... to condition on descriptions"
            )
        return tasks

    def materialize(self, task: object, *, scale: float = 1.0) -> nn.Module:
        """A plain Hugging Face model (the base model's class) with ``task``'s adapters
        merged into its weights: no peft, no hypernetwork; ``save_pretrained`` works.

        ``scale`` multiplies every generated weight change (``W0 + scale * B A``): 1 gives
        the adapters as generated, 0 the pretrained model, values between pull the
        adapted model toward the pretrained one (e.g. for a description unlike those
        seen in training; see ``unseen_scale`` in docs/benchmarks.md).

        Example:
            >>> import transformers
            >>> config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2,
            ...     num_attention_heads=2, intermediate_size=64, vocab_size=100)
            >>> base = transformers.BertModel(config)
            >>> hyper = HyperLoRA(base, num_tasks=2, rank=2)
            >>> frozen = hyper.materialize(0, scale=0.0).state_dict()
            >>> all(torch.equal(v, base.state_dict()[k]) for k, v in frozen.items())
            True
        """
        if isinstance(task, (list, tuple)) or (isinstance(task, Tensor) and task.dim() > 0):
            raise ValueError(
                f"materialize takes one task (an id or a description), got {describe(task)}"
            )
        if not isinstance(scale, (int, float)) or isinstance(scale, bool):
            raise TypeError(f"scale must be a number >= 0, got {describe(scale)}")
        if not scale >= 0 or scale == float("inf"):
            raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
        peft_model: Any = self.hyper.materialize(self._condition(task))
        if scale != 1.0:
            with torch.no_grad():
                for name, p in peft_model.named_parameters():
                    if "lora_B" in name:
                        p.mul_(float(scale))
        merged: nn.Module = peft_model.merge_and_unload()
        return merged.eval().requires_grad_(True)

    def parameter_groups(self, lr: float, *, output_lr_scale: float = 1.0) -> list[dict[str, Any]]:
        """Optimizer parameter groups: the output layers of the hypernetwork's head (the
        layers that emit every generated factor) at ``lr * output_lr_scale``, every other
        trainable parameter (the factors' shared base θ₀, the condition embedding, the
        body, the rest of the head) at ``lr``.

        Under Adam each weight of an output layer moves by about ``lr`` per step, so a
        generated factor moves by about ``lr`` times the sum of the magnitudes of the
        layer's inputs, a larger step than θ₀'s; a scale below 1 evens them out.

        Example:
            >>> import transformers
            >>> config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2,
            ...     num_attention_heads=2, intermediate_size=64, vocab_size=100)
            >>> hyper = HyperLoRA(transformers.BertModel(config), num_tasks=3, rank=2)
            >>> groups = hyper.parameter_groups(1e-3, output_lr_scale=0.1)
            >>> [g["lr"] for g in groups], [len(g["params"]) for g in groups]
            ([0.001, 0.0001], [19, 2])
            >>> optimizer = torch.optim.Adam(groups)
        """
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if (
            not isinstance(output_lr_scale, (int, float))
            or isinstance(output_lr_scale, bool)
            or not output_lr_scale > 0
        ):
            raise ValueError(f"output_lr_scale must be a positive number, got {output_lr_scale!r}")
        head = self.hyper.head
        outputs = {
            id(p)
            for name, p in head.named_parameters()
            if p.requires_grad and name.rpartition(".")[0].rpartition(".")[2] == "out"
        }
        trainable = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in trainable if id(p) not in outputs], "lr": float(lr)},
            {
                "params": [p for p in trainable if id(p) in outputs],
                "lr": float(lr) * float(output_lr_scale),
            },
        ]

    def trainable_parameters(self) -> int:
        """How many numbers training updates (the frozen base model excluded)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _width(model: nn.Module, tokenizer: object) -> int:  # pragma: no cover - exotic configs
    with torch.no_grad():
        batch = tokenizer(["x"], return_tensors="pt")  # type: ignore[operator]
        return int(model(**batch).last_hidden_state.shape[-1])
