"""``hypernetworks graph``: a tiny end-to-end run and its files."""

import json

import pytest
import torch

from hypernetworks.cli import main
from hypernetworks.graph import GraphHyperNetwork, MLPSpec


def test_cli_writes_metrics_checkpoint_and_curves(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "graph",
        "--benchmark",
        "digits",
        "--seed",
        "0",
        "--out",
        str(out),
        "--steps",
        "3",
        "--architectures",
        "4",
        "--held-out",
        "2",
        "--scratch-steps",
        "20",
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "means per split" in printed and "held_out_mlp" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    rows = metrics["results"]
    assert {r["split"] for r in rows} == {"held_out", "out_of_distribution"}
    assert sum(r["split"] == "held_out" for r in rows) == 2
    for row in rows:
        assert {
            "architecture",
            "split",
            "zero_shot_accuracy",
            "trained_accuracy",
            "finetune",
        } <= set(row)
        assert set(row["finetune"]) == {"predicted", "random"}
        assert {"10", "100"} <= set(row["finetune"]["predicted"])
        assert 0.0 <= row["zero_shot_accuracy"] <= 1.0
    assert {"held_out_mlp", "out_of_distribution", "held_out"} <= set(metrics["means"])
    # CPU times (the machine may be shared: wall-clock alone would mislead)
    assert metrics["means"]["prediction_cpu_seconds_mean"] >= 0.0
    assert metrics["ghn_fit_cpu_seconds"] >= 0.0 and metrics["evaluation_cpu_seconds"] >= 0.0
    assert all(r["prediction_cpu_seconds"] >= 0.0 for r in rows)
    assert metrics["config"]["steps"] == 3 and metrics["seed"] == 0
    for name in ("finetune_held_out.png", "finetune_out_of_distribution.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    ghn = GraphHyperNetwork.load(out / "graph_hypernetwork.pt")
    predicted = ghn.predict(MLPSpec((1, 8, 8), 10, (32,))())
    assert predicted["1.weight"].shape == (32, 64)
    assert torch.load(out / "graph_hypernetwork.pt", weights_only=True)["config"] == ghn.config


@pytest.mark.parametrize("bad", [["--steps", "0"], ["--benchmark", "cifar"], ["--decoder", "mlp"]])
def test_cli_refuses_bad_flags(bad, capsys):
    with pytest.raises(SystemExit):
        main(["graph", *bad])
    assert "error" in capsys.readouterr().err
