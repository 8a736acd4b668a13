"""The leave-one-task-out protocol of the held-out goal (hypernetworks.adapters._loto) on
a tiny random BERT, and the scaled export it uses."""

from __future__ import annotations

import pytest
import torch

from hypernetworks.datasets import text_task

from .test_adapters import _bert, _inputs, _tokenizer

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from hypernetworks.adapters import HyperLoRA  # noqa: E402
from hypernetworks.adapters._loto import as_unseen, loto_fold, loto_per_task  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)
NAMES = ("sentiment", "python", "names")
OPTIONS = {"batch_size": 4, "rank": 2, "max_length": 16, "train_per_class": 4, "test_per_class": 2}
RATES = {"hyperlora-desc": 1e-2, "lora-shared": 1e-2}


def test_materialize_scale_interpolates_toward_the_pretrained_model():
    base = _bert()
    hyper = HyperLoRA(base, num_tasks=2, rank=2)
    with torch.no_grad():  # non-zero generated factors
        for p in hyper.hyper.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    inputs = _inputs()
    w0 = base.state_dict()
    full, half = hyper.materialize(1).state_dict(), hyper.materialize(1, scale=0.5).state_dict()
    changed = [k for k in w0 if not torch.equal(full[k], w0[k])]
    assert changed and all("query" in k or "value" in k for k in changed)
    for k in changed:
        torch.testing.assert_close(half[k], w0[k] + 0.5 * (full[k] - w0[k]))
    frozen = hyper.materialize(1, scale=0.0)
    torch.testing.assert_close(frozen(**inputs).last_hidden_state, base(**inputs).last_hidden_state)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0, got -1"):
        hyper.materialize(1, scale=-1)
    with pytest.raises(ValueError, match="got nan"):
        hyper.materialize(1, scale=float("nan"))
    with pytest.raises(TypeError, match=r"scale must be a number >= 0, got '0.5' \(str\)"):
        hyper.materialize(1, scale="0.5")


def test_a_fold_scores_the_held_out_task_on_its_training_texts_only():
    task = text_task("sentiment", seed=100, train_per_class=4, test_per_class=2)
    unseen = as_unseen(task)
    assert unseen.test_texts == task.train_texts and unseen.test_labels == task.train_labels
    assert not set(unseen.test_texts) & set(task.test_texts)
    with pytest.raises(TypeError, match="task must be a TextTask, got str"):
        as_unseen("sentiment")  # type: ignore[arg-type]


def test_loto_fold_and_per_task_rows_and_scale_0_is_the_frozen_model():
    base = _bert()
    common = {"seed": 100, "names": NAMES, "options": OPTIONS}
    fold_args = {"held": "python", "desc_steps": (2,), "scales": (1.0, 0.0), "rates": RATES}
    fold_args |= {"shared_steps": 1, **common}
    fold = loto_fold(base, _tokenizer, **fold_args)
    scores = fold["scores"]
    assert set(scores) == {
        "hyperlora-desc, steps 2, scale 1",
        "hyperlora-desc, steps 2, scale 0",
        "hyperlora-desc, steps 2, nearest seen description",
        "hyperlora-desc (best other description), steps 2",
        "lora-shared",
        "zero-shot",
    }
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["hyperlora-desc, steps 2, scale 0"] == scores["zero-shot"]
    again = loto_fold(base, _tokenizer, **fold_args)
    assert again["scores"] == scores  # deterministic under the seed
    per_task = loto_per_task(base, _tokenizer, steps=1, lr=1e-2, **common)
    assert {k: set(v) for k, v in per_task["scores"].items()} == {
        n: set(NAMES) - {n} for n in NAMES
    }
    with pytest.raises(ValueError, match=r"held must be one of the seen tasks .*got 'kind'"):
        loto_fold(
            base,
            _tokenizer,
            held="kind",
            desc_steps=(1,),
            scales=(1.0,),
            rates=RATES,
            shared_steps=1,
            **common,
        )
