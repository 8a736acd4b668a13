"""``hypernetworks fields``: each benchmark runs end to end at a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hypernetworks.cli import main

TINY = [
    "--steps",
    "2",
    "--train-images",
    "40",
    "--test-images",
    "6",
    "--scratch-steps",
    "2",
    "--finetune-steps",
    "1",
    "--no-progress",
]


@pytest.mark.parametrize(
    ("benchmark", "figure"),
    [
        ("mnist", "mnist_completion.png"),
        ("patches", "patches_completion.png"),
        ("superres", "superres.png"),
    ],
)
def test_completion_benchmarks_write_rows_and_figures(
    benchmark: str, figure: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fields", "--benchmark", benchmark, "--out", str(tmp_path), *TINY]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    rows = metrics["results"]
    assert {"method", "context", "mse", "psnr"} <= set(rows[0])
    assert "hypernetwork" in {r["method"] for r in rows}
    if benchmark != "superres":
        assert {r["context"] for r in rows} == {"10", "100", "50%"}
        assert {"cnp", "siren-scratch2", "hypernetwork+finetune1"} <= {r["method"] for r in rows}
        assert set(metrics["completion_cpu_seconds"]) == set(metrics["completion_seconds"])
        assert metrics["time_ratio_scratch_over_one_pass"] > 0
    else:
        expected = {"bicubic", "nearest", "cnp", "hypernetwork+finetune1", "siren-scratch1"}
        assert expected | {"siren-scratch2"} <= {r["method"] for r in rows}
        assert all({"psnr_input", "cpu_seconds"} <= set(r) for r in rows)
        assert metrics["config"]["finetune_lr"] == 1e-3  # superres: area-consistent fine-tuning
    assert set(metrics["fit_cpu_seconds"]) == {"hypernetwork", "cnp"}
    assert all(v > 0 for v in metrics["fit_cpu_seconds"].values())
    assert (tmp_path / figure).stat().st_size > 0
    assert "hypernetwork" in capsys.readouterr().out


def test_compress_benchmark_writes_rate_distortion(tmp_path: Path) -> None:
    args = [
        "fields",
        "--benchmark",
        "compress",
        "--compress-steps",
        "2",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(args) == 0
    rows = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert {"method", "image", "bpp", "psnr"} <= set(rows[0])
    coin = sorted(r["bpp"] for r in rows if r["method"] == "coin")
    doh = sorted(r["bpp"] for r in rows if r["method"] == "doh")
    assert coin == pytest.approx(doh)  # compared at matched rates
    assert (tmp_path / "rate_distortion.png").stat().st_size > 0


def test_bad_flags_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fields", "--benchmark", "cifar"])
    with pytest.raises(SystemExit):
        main(["fields", "--steps", "0"])
    assert "invalid choice" in capsys.readouterr().err


def test_encoder_and_steps_defaults_are_the_development_choices() -> None:
    import argparse

    from hypernetworks.fields.cli import add_arguments, config_from

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def config(*flags: str) -> dict:
        return config_from(parser.parse_args(list(flags)))

    # chosen on the development seed 0 (docs/benchmarks.md §10)
    assert config("--benchmark", "mnist")["encoder"] == "attention"
    assert config("--benchmark", "patches")["encoder"] == "deepsets"
    assert config("--benchmark", "superres")["encoder"] == "deepsets"
    assert {config("--benchmark", b)["steps"] for b in ("mnist", "superres")} == {6000}
    assert config("--benchmark", "patches")["steps"] == 2000
    assert config("--benchmark", "mnist", "--encoder", "deepsets")["encoder"] == "deepsets"
    assert "encoder" not in config("--benchmark", "compress")
    with pytest.raises(SystemExit):
        parser.parse_args(["--encoder", "transformer"])


def test_side_by_side_training_gives_the_results_of_one_after_the_other(tmp_path: Path) -> None:
    # by default the CNP trains in a second process while the hypernetwork trains here
    flags = ["fields", "--benchmark", "mnist", *TINY, "--steps", "6"]
    assert main([*flags, "--out", str(tmp_path / "two")]) == 0
    assert main([*flags, "--sequential", "--out", str(tmp_path / "one")]) == 0
    two, one = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("two", "one"))
    assert two["results"] == one["results"]
    assert all(v > 0 for v in two["fit_cpu_seconds"].values())
