"""hypernetworks.adapters: HyperLoRA on tiny random BERTs (the real MiniLM only in the CLI
test), description conditioning, merged export, error messages, the text data builders."""

from __future__ import annotations

import copy
import doctest
import importlib
import re

import pytest
import torch
from torch import nn

from hypernetworks.datasets import TEXT_TASKS, TextTask, text_task

from .helpers import perturb

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
transformers.logging.set_verbosity_error()

from hypernetworks.adapters import (  # noqa: E402
    DescriptionEmbedding,
    HyperLoRA,
    lora_model,
    mean_pool,
    train_encoder,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)
VOCAB = 97


def _bert() -> nn.Module:
    config = transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=VOCAB,
        max_position_embeddings=32,
    )
    return transformers.BertModel(config).eval()


def _tokenizer(texts, *, padding=True, truncation=True, max_length=16, return_tensors="pt"):
    """A character tokenizer with the call signature of a Hugging Face tokenizer."""
    length = min(max_length, 16)  # the tiny BERT has 32 positions
    rows = [[1] + [3 + ord(ch) % (VOCAB - 3) for ch in t][: length - 2] + [2] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": (ids > 0).long()}


def _inputs(texts=("a short one", "a much longer sentence here", "mid size", "x")):
    return _tokenizer(list(texts))


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-3, atol=5e-4)  # merged W + BA rounds differently


def _samples(inputs, i):
    return {k: v[i : i + 1] for k, v in inputs.items()}


@pytest.mark.parametrize("layer_dim", [8, None])
def test_at_initialisation_the_model_is_the_pretrained_model(layer_dim):
    bert = _bert()
    hyper = HyperLoRA(bert, num_tasks=3, rank=2, layer_dim=layer_dim).eval()
    inputs = _inputs()
    with torch.no_grad():
        reference = bert(**inputs).last_hidden_state
        assert torch.equal(hyper(inputs, 1).last_hidden_state, reference)
        _close(hyper(inputs, torch.tensor([0, 2, 1, 0])).last_hidden_state, reference)
        _close(hyper.materialize(2)(**inputs).last_hidden_state, reference)
    assert {n for n, p in bert.named_parameters()} == {  # the base model is left untouched
        n for n, _ in _bert().named_parameters()
    }


@pytest.mark.parametrize("layer_dim", [8, None])
def test_a_mixed_task_batch_equals_each_tasks_materialized_model(layer_dim):
    hyper = HyperLoRA(_bert(), num_tasks=3, rank=2, layer_dim=layer_dim).eval()
    perturb(hyper.hyper, scale=0.3)
    with torch.no_grad():  # the lora_B base is zero: give it a value too
        for name, p in hyper.hyper.target.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    inputs, tasks = _inputs(), torch.tensor([2, 0, 1, 2])
    out = hyper(inputs, tasks).last_hidden_state
    assert hyper.hyper.per_sample_path == "batched"
    merged = {t: hyper.materialize(t) for t in range(3)}
    assert all(type(m).__name__ == "BertModel" for m in merged.values())
    for i, t in enumerate(tasks.tolist()):
        _close(out[i : i + 1], merged[t](**_samples(inputs, i)).last_hidden_state)
    assert not torch.allclose(out[0], merged[1](**_samples(inputs, 0)).last_hidden_state[0])
    out.pow(2).mean().backward()  # every task that was in the batch gets a gradient
    grad = hyper.hyper.conditioner.embedding.weight.grad
    assert grad.abs().sum(-1).min() > 0


def test_description_conditioning_per_sample_and_for_an_unseen_description():
    hyper = HyperLoRA(_bert(), tokenizer=_tokenizer, rank=2).eval()
    perturb(hyper.hyper, scale=0.3)
    with torch.no_grad():
        for name, p in hyper.hyper.target.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    tasks = ["sentiment of a word", "language of words", "sentiment of a word", "language"]
    inputs = _inputs()
    out = hyper(inputs, tasks).last_hidden_state
    for i, task in enumerate(tasks):
        _close(out[i : i + 1], hyper.materialize(task)(**_samples(inputs, i)).last_hidden_state)
    unseen = hyper.encode(inputs, "which library wrote this docstring?")
    assert unseen.shape == (4, 32)
    torch.testing.assert_close(unseen.norm(dim=-1), torch.ones(4))
    assert not torch.allclose(unseen, hyper.encode(inputs, "sentiment of a word"))
    conditioner = hyper.hyper.conditioner
    assert isinstance(conditioner, DescriptionEmbedding) and len(conditioner._cache) == 4
    assert all(not p.requires_grad for p in _frozen_encoder_params(conditioner))


def _frozen_encoder_params(conditioner):
    cell = conditioner._encode.__closure__
    model = next(c.cell_contents for c in cell if isinstance(c.cell_contents, nn.Module))
    return list(model.parameters())


def test_merged_export_round_trips(tmp_path):
    hyper = HyperLoRA(_bert(), num_tasks=2, rank=2, target_modules=["query", "dense"]).eval()
    perturb(hyper.hyper, scale=0.3)
    with torch.no_grad():
        for name, p in hyper.hyper.target.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    merged = hyper.materialize(1)
    merged.save_pretrained(tmp_path)
    loaded = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded).__name__ == "BertModel"
    assert not any("lora" in n for n in loaded.state_dict())
    inputs = _inputs()
    with torch.no_grad():
        _close(loaded(**inputs).last_hidden_state, hyper(inputs, 1).last_hidden_state)


def test_trainable_parameters_are_the_hypernetwork_and_lora_bases_only():
    hyper = HyperLoRA(_bert(), num_tasks=3, rank=2)
    trainable = {n for n, p in hyper.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or not n.startswith("hyper.target.") for n in trainable)
    assert hyper.trainable_parameters() == sum(
        p.numel() for p in hyper.parameters() if p.requires_grad
    )
    lora = lora_model(_bert(), ["query", "value"], rank=2)
    assert sum(p.numel() for p in lora.parameters() if p.requires_grad) == 2 * 2 * 2 * (2 * 32)


def _toy_task(name: str, words: tuple[str, ...]) -> TextTask:
    texts = tuple(f"{w} {v}" for w in words for v in ("one", "two"))
    labels = tuple(i % 2 for i in range(len(texts)))
    return TextTask(name, (f"{name} task",), ("even", "odd"), texts, labels, texts, labels, "", "")


@pytest.mark.parametrize("layer_dim", [8, None])
def test_parameter_groups_split_off_the_output_layers_and_scale_1_trains_alike(layer_dim):
    hyper = HyperLoRA(_bert(), num_tasks=2, rank=2, layer_dim=layer_dim)
    groups = hyper.parameter_groups(1e-2, output_lr_scale=0.1)
    trainable = [p for p in hyper.parameters() if p.requires_grad]
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(map(id, trainable))
    outputs = {
        id(m.weight) for n, m in hyper.hyper.head.named_modules() if n.rpartition(".")[2] == "out"
    }
    assert outputs and {id(p) for p in groups[1]["params"]} == outputs
    assert groups[0]["lr"] == 1e-2 and groups[1]["lr"] == pytest.approx(1e-3)

    # groups at scale 1 train exactly as the plain parameter list; a scale < 1 differs
    tasks = [_toy_task("a", ("cat", "dog", "cow")), _toy_task("b", ("red", "tan"))]
    copies = [copy.deepcopy(hyper) for _ in range(3)]
    options = {"steps": 3, "batch_size": 4, "lr": 1e-2, "seed": 0, "max_length": 16}
    runs = [
        train_encoder(h.encode, params, _tokenizer, tasks, lambda t, rng: t, **options)
        for h, params in zip(
            copies,
            [
                [p for p in copies[0].parameters() if p.requires_grad],
                copies[1].parameter_groups(1e-2),
                copies[2].parameter_groups(1e-2, output_lr_scale=0.1),
            ],
            strict=True,
        )
    ]
    assert runs[0] == runs[1] and runs[2] != runs[0]
    with pytest.raises(ValueError, match="lr must be a positive number, got 0"):
        hyper.parameter_groups(0)
    with pytest.raises(ValueError, match="output_lr_scale must be a positive number, got -1"):
        hyper.parameter_groups(1e-3, output_lr_scale=-1)


def test_clear_errors():
    bert = _bert()
    hyper = HyperLoRA(bert, num_tasks=3, rank=2)
    with pytest.raises(ValueError, match=r"task ids must lie in \[0, 2\] \(num_tasks=3\), got 3"):
        hyper(_inputs(), torch.tensor([0, 3, 1, 1]))
    with pytest.raises(ValueError, match=r"task ids must lie in \[0, 2\].*got 5"):
        hyper.materialize(5)
    with pytest.raises(TypeError, match="conditioned on task ids .* got a description"):
        hyper(_inputs(), "sentiment")
    described = HyperLoRA(bert, tokenizer=_tokenizer, rank=2)
    with pytest.raises(ValueError, match="a task description must be a non-empty string, got ''"):
        described(_inputs(), "")
    with pytest.raises(ValueError, match="non-empty string, got '  '"):
        described(_inputs(), ["ok", "  ", "ok", "ok"])
    with pytest.raises(TypeError, match="give a string or a list of strings, got 1"):
        described(_inputs(), 1)
    with pytest.raises(
        ValueError,
        match=r"target_modules \['attn'\] match no linear layer of "
        r"BertModel; its linear layers are named \[.*'query'",
    ):
        HyperLoRA(bert, num_tasks=2, target_modules=["query", "attn"])
    with pytest.raises(TypeError, match="target_modules must be a list of module names"):
        HyperLoRA(bert, num_tasks=2, target_modules="query")
    with pytest.raises(TypeError, match="must be a Hugging Face transformers PreTrainedModel"):
        HyperLoRA(nn.Linear(4, 4), num_tasks=2)
    with pytest.raises(ValueError, match="give exactly one of num_tasks .* and tokenizer"):
        HyperLoRA(bert)
    with pytest.raises(ValueError, match="give exactly one of num_tasks"):
        HyperLoRA(bert, num_tasks=2, tokenizer=_tokenizer)
    with pytest.raises(ValueError, match="materialize takes one task"):
        hyper.materialize(torch.tensor([0, 1]))


def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    changed = hidden.clone()
    changed[0, 2:] = 100.0
    _close(mean_pool(hidden, mask), mean_pool(changed, mask))
    _close(mean_pool(hidden, mask)[0], nn.functional.normalize(hidden[0, :2].mean(0), dim=0))


@pytest.mark.parametrize("name", ["language", "names", "sentiment", "python"])
def test_data_builders_are_deterministic_under_a_seed_and_keep_test_apart(name):
    first = text_task(name, seed=3, train_per_class=20, test_per_class=8)
    assert first == text_task(name, seed=3, train_per_class=20, test_per_class=8)
    other = text_task(name, seed=4, train_per_class=20, test_per_class=8)
    assert (first.train_texts, first.test_texts) != (other.train_texts, other.test_texts)
    norm = [re.sub(r"[^a-z0-9]+", " ", t.lower()).strip() for t in first.train_texts]
    assert not set(norm) & {re.sub(r"[^a-z0-9]+", " ", t.lower()).strip() for t in first.test_texts}
    if name in ("language", "names"):  # the vocabularies themselves are split
        train_words = {w for t in first.train_texts for w in t.lower().split()}
        test_words = {w for t in first.test_texts for w in t.lower().split()}
        assert not train_words & test_words
    assert set(first.train_labels) == set(range(len(first.labels)))
    assert len(first.descriptions) >= 2 and all(d.strip() for d in first.descriptions)


def test_docstring_tasks_split_by_object_name():
    task = text_task("library", seed=0, train_per_class=30, test_per_class=10)
    assert len(task.labels) == 4 and len(task.test_texts) == 40
    assert not any(leak in t.lower() for t in task.train_texts for leak in ("torch", "numpy"))
    from hypernetworks.datasets._text import _docstrings

    name_of = {}
    for _, _, name, text in _docstrings():
        name_of.setdefault(text, set()).add(name)
    train_names = set().union(*(name_of[t] for t in task.train_texts))
    test_names = set().union(*(name_of[t] for t in task.test_texts))
    # a text shared by several names may bridge them; the split groups are the names
    assert len(train_names & test_names) <= 0.1 * len(test_names)


@pytest.mark.parametrize("name", ["python", "sentiment", "language"])
def test_validation_split_is_deterministic_grouped_and_apart_from_test(name):
    from hypernetworks.adapters._validation import _groups, validation_split

    task = text_task(name, seed=100, train_per_class=30, test_per_class=8)
    dev = validation_split(task, seed=100)
    assert dev == validation_split(task, seed=100)
    assert dev != validation_split(task, seed=101)
    # the validation texts come from the training texts, never from the test texts, and
    # the training part keeps the rest: a partition of the original training texts
    assert set(dev.test_texts) <= set(task.train_texts)
    assert not set(dev.test_texts) & set(task.test_texts)
    assert not set(dev.test_texts) & set(dev.train_texts)
    assert sorted(dev.train_texts + dev.test_texts) == sorted(task.train_texts)
    label = dict(zip(task.train_texts, task.train_labels, strict=True))
    assert all(label[t] == y for t, y in zip(dev.test_texts, dev.test_labels, strict=True))
    assert 0.15 <= len(dev.test_texts) / len(task.train_texts) <= 0.5
    # whole groups go to one side (python: pydoc topics; sentiment: first four letters)
    group = dict(zip(task.train_texts, _groups(task, 100), strict=True))
    assert not {group[t] for t in dev.test_texts} & {group[t] for t in dev.train_texts}
    if name == "python":
        assert all(g.startswith("g:") for g in group.values())
    if name == "sentiment":
        assert not {t[:4] for t in dev.test_texts} & {t[:4] for t in dev.train_texts}
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\), got 1.5"):
        validation_split(task, seed=0, fraction=1.5)
    with pytest.raises(TypeError, match="task must be a TextTask, got str"):
        validation_split("python", seed=0)  # type: ignore[arg-type]


def test_unknown_text_task_is_refused():
    with pytest.raises(ValueError, match=r"text task must be one of \[.*'sentiment'.*got 'x'"):
        text_task("x")
    assert len(TEXT_TASKS) == 6


@pytest.mark.parametrize(
    "name",
    [
        "hypernetworks.adapters",
        "hypernetworks.adapters._descriptions",
        "hypernetworks.adapters._harness",
        "hypernetworks.adapters._hyperlora",
        "hypernetworks.adapters._loto",
        "hypernetworks.adapters._plots",
        "hypernetworks.adapters._validation",
        "hypernetworks.datasets._text",
    ],
)
def test_docstring_examples(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0
