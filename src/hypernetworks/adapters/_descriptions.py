"""Conditioning on a task's description: a sentence embedded by the frozen base model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .._checks import check_positive_int, describe
from .._conditioners import Conditioner

__all__ = ["DescriptionEmbedding", "mean_pool", "sentence_encoder"]


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean of the token states ``[B, T, d]`` over the unmasked tokens, L2-normalised:
    the sentence embedding of sentence-transformers' MiniLM models.

    Example:
        >>> import torch
        >>> mean_pool(torch.ones(2, 3, 4), torch.tensor([[1, 1, 0], [1, 0, 0]])).shape
        torch.Size([2, 4])
    """
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
    return nn.functional.normalize(pooled, dim=-1)


def sentence_encoder(
    model: nn.Module, tokenizer: Callable, *, max_length: int = 64
) -> Callable[[list[str]], Tensor]:
    """A function embedding sentences with ``model`` (kept frozen, in eval mode, no grad).

    The model is used as it is, not copied: give it a model nothing else trains.
    """

    def encode(texts: list[str]) -> Tensor:
        batch = tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        with torch.no_grad():
            was_training = model.training
            model.eval()
            out = model(**batch).last_hidden_state
            model.train(was_training)
        return mean_pool(out, batch["attention_mask"])

    return encode


class DescriptionEmbedding(Conditioner):
    """Condition on a task description: ``c`` is a string (one task for the batch) or a
    list of strings (one per sample).

    Each distinct description is embedded once by ``encode`` (a frozen sentence encoder,
    e.g. :func:`sentence_encoder` of the base model) and cached; a learned linear map
    takes the ``in_features``-wide sentence embedding to ``dim``. A description never
    seen in training still gets an embedding, hence adapters.

    Args:
        encode: maps a list of strings to ``[n, in_features]`` embeddings.
        in_features: width of those embeddings.
        dim: the condition embedding's size.

    Example:
        >>> import torch
        >>> conditioner = DescriptionEmbedding(lambda t: torch.ones(len(t), 3), 3, dim=4)
        >>> conditioner("sentiment of a word").shape, conditioner(["a", "b"]).shape
        (torch.Size([4]), torch.Size([2, 4]))
    """

    def __init__(self, encode: Callable[[list[str]], Tensor], in_features: int, dim: int) -> None:
        super().__init__()
        if not callable(encode):
            raise TypeError(
                f"encode must be callable (list of str -> Tensor), got {describe(encode)}"
            )
        self.dim = check_positive_int(dim, "dim")
        self.in_features = check_positive_int(in_features, "in_features")
        self._encode = encode
        self._cache: dict[str, Tensor] = {}
        self.projection = nn.Linear(self.in_features, self.dim)

    @staticmethod
    def _check(text: object) -> str:
        if not isinstance(text, str):
            raise TypeError(f"a task description must be a string, got {describe(text)}")
        if not text.strip():
            raise ValueError(f"a task description must be a non-empty string, got {text!r}")
        return text

    def embed_texts(self, texts: Sequence[str]) -> Tensor:
        """The frozen sentence embeddings ``[n, in_features]`` of ``texts`` (cached)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            values = self._encode(missing)
            if not isinstance(values, Tensor) or values.shape != (len(missing), self.in_features):
                raise ValueError(
                    f"encode must return a Tensor of shape [{len(missing)}, {self.in_features}], "
                    f"got {describe(values)}"
                )
            for text, value in zip(missing, values.detach(), strict=True):
                self._cache[text] = value
        weight = self.projection.weight
        return torch.stack([self._cache[t] for t in texts]).to(weight.device, weight.dtype)

    def forward(self, c: str | Sequence[str]) -> Tensor:
        if isinstance(c, str):
            return self.projection(self.embed_texts([self._check(c)]))[0]
        if not isinstance(c, (list, tuple)) or not c:
            raise TypeError(
                "the condition must be a task description (str) or a non-empty list of them, "
                f"got {describe(c)}"
            )
        return self.projection(self.embed_texts([self._check(t) for t in c]))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, dim={self.dim}, cached={len(self._cache)}"
