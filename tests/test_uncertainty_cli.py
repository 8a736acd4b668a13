"""``hypernetworks uncertainty``: tiny end-to-end runs, the files they write, bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hypernetworks.cli import main

KEYS = {"accuracy", "nll", "ece", "ood_auroc", "params", "train_seconds"}


def _run(out: Path, *flags: str) -> dict:
    assert main(["uncertainty", *flags, "--out", str(out), "--no-progress"]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_regression_run_writes_metrics_and_intervals_and_repeats(tmp_path: Path) -> None:
    flags = ("--benchmark", "regression", "--method", "hypernet", "--epochs", "1", "--seed", "3")
    first = _run(tmp_path / "a", *flags)
    second = _run(tmp_path / "b", *flags)
    assert KEYS <= set(first) and first["accuracy"] is None and first["params"] > 0
    assert (tmp_path / "a" / "regression_intervals.png").stat().st_size > 0
    timeless = lambda m: {k: v for k, v in m.items() if not k.endswith("seconds")}  # noqa: E731
    assert timeless(first) == timeless(second)


def test_mnist_ood_run_writes_metrics_and_plots(tmp_path: Path) -> None:
    metrics = _run(
        tmp_path,
        "--benchmark",
        "mnist-ood",
        "--method",
        "ensemble",
        "--epochs",
        "1",
        "--ensemble-size",
        "2",
    )
    assert KEYS <= set(metrics)
    assert 0.5 < metrics["accuracy"] <= 1 and 0 <= metrics["ece"] <= 1
    assert 0 <= metrics["ood_auroc"] <= 1 and metrics["ood_sets"]["digits"] == 2500
    assert metrics["params"] == 2 * (784 * 100 + 100 + 100 * 100 + 100 + 100 * 5 + 5)
    for name in ("reliability.png", "ood_histogram.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "expected an integer >= 1"),
        (["--members", "-2"], "expected an integer >= 1"),
        (["--method", "bayes"], "invalid choice"),
    ],
)
def test_bad_flags_are_refused(flags: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["uncertainty", "--benchmark", "regression", *flags])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_values_stop_with_the_rule(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="kl_weight must be a number >= 0, got -1.0"):
        main(
            [
                "uncertainty",
                "--benchmark",
                "regression",
                "--kl-weight",
                "-1",
                "--epochs",
                "1",
                "--no-progress",
            ]
        )


@pytest.mark.parametrize("method", ["hypernet", "mc-dropout"])
def test_resume_loads_the_trained_model_and_repeats_the_metrics(
    tmp_path: Path, method: str
) -> None:
    flags = ("--benchmark", "regression", "--method", method, "--epochs", "1")
    first = _run(tmp_path, *flags)
    assert (tmp_path / "checkpoint.pt").is_file()
    resumed = _run(tmp_path, *flags, "--resume")
    assert {k: v for k, v in first.items() if k != "predict_seconds"} == {
        k: v for k, v in resumed.items() if k != "predict_seconds"
    }
