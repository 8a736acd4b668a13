"""`hypernetworks fewshot` end to end, tiny: files, determinism under a seed, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hypernetworks.cli import main

TINY = [
    "--steps",
    "3",
    "--test-episodes",
    "4",
    "--images-per-class",
    "4",
    "--queries",
    "2",
    "--test-queries",
    "2",
    "--channels",
    "4",
    "--hidden",
    "8",
    "--no-progress",
]


def test_cli_writes_metrics_and_episodes_and_repeats_under_a_seed(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        argv = [
            "fewshot",
            "--benchmark",
            "glyphs-to-mnist",
            "--method",
            "hypershot",
            "--shots",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
            *TINY,
        ]
        assert main(argv) == 0
    metrics = json.loads((first / "metrics.json").read_text())
    assert {"accuracy", "ci95", "shots", "ways"} <= set(metrics)
    assert (metrics["shots"], metrics["ways"], metrics["test_episodes"]) == (1, 5, 4)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert (first / "episodes.png").stat().st_size > 0
    again = json.loads((second / "metrics.json").read_text())
    assert (again["accuracy"], again["ci95"]) == (metrics["accuracy"], metrics["ci95"])


def test_cli_resumes_from_the_trained_model(tmp_path: Path) -> None:
    argv = ["fewshot", "--method", "protonet", "--shots", "2", "--out", str(tmp_path), *TINY]
    assert main(argv) == 0
    before = json.loads((tmp_path / "metrics.json").read_text())
    assert main([*argv, "--resume"]) == 0
    after = json.loads((tmp_path / "metrics.json").read_text())
    assert after["accuracy"] == before["accuracy"]


def test_cli_refuses_episodes_that_do_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fewshot", "--shots", "5", "--out", str(tmp_path), *TINY]  # 5 + 2 > 4 images
    with pytest.raises(
        SystemExit, match=r"ways \(=5\) must not exceed the classes available \(=0\)"
    ):
        main(argv)
    with pytest.raises(SystemExit):
        main(["fewshot", "--shots", "0", "--no-progress"])
    assert "--shots" in capsys.readouterr().err
