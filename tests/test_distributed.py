"""DistributedDataParallel around a HyperModel under torchrun (gloo, 2 processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
_PORTS = iter(range(20000 + os.getpid() % 1000 * 20, 20000 + os.getpid() % 1000 * 20 + 20))


def _run(*args: str, ranks: int = 1) -> subprocess.CompletedProcess:
    """``python args`` in one process, or under ``torchrun --nproc-per-node ranks``;
    fails the test with the process's stderr if it fails."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    launcher = ["-m", "torch.distributed.run", "--nproc-per-node", str(ranks)]
    launcher += ["--master-port", str(next(_PORTS))]
    command = [sys.executable, *(launcher if ranks > 1 else []), *args]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.parametrize("head", ["full", "lowrank"])
def test_ddp_ranks_hold_identical_parameters(tmp_path, head):
    _run(str(WORKER), str(tmp_path), head, ranks=2)
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    # the ranks saw different data: equal parameters mean DDP averaged their gradients
    assert torch.equal(first, second)


CLI_CASES = {
    # recipe flags, the metrics compared, and a line rank 0 prints once
    "uncertainty": (
        # regression runs 50x the epochs: one full batch per epoch keeps it to 50 steps (over
        # hundreds of steps the entropy estimate's nearest-neighbour min() amplifies the
        # float-level differences of a gradient all-reduce into different fits)
        ["uncertainty", "--benchmark", "regression", "--method", "hypernet", "--epochs", "1"]
        + ["--batch-size", "200"],
        ("nll", "rmse", "ood_auroc"),
        "OOD AUROC",
    ),
    "fields": (
        ["fields", "--benchmark", "mnist", "--steps", "40", "--train-images", "200"]
        + ["--test-images", "20", "--scratch-steps", "5", "--finetune-steps", "2"],
        ("hypernetwork_mse",),
        "wrote ",
    ),
    "tabular": (["tabular", "--benchmark", "wine"], ("balanced_accuracy",), "wrote "),
    "adapters": (
        ["adapters", "--steps", "4", "--batch-size", "8", "--train-per-class", "4"]
        + ["--test-per-class", "20", "--max-length", "16", "--method", "hyperlora"]
        # MiniLM's dropout draws other masks when each rank holds half the batch; without
        # it the two runs take the same steps
        + ["--dropout", "0"],
        ("hyperlora_mean",),
        "wrote ",
    ),
    "continual": (
        ["continual", "--benchmark", "permuted-digits", "--method", "hnet", "--tasks", "3"]
        + ["--iterations", "40"],
        ("mean_accuracy",),
        "wrote ",
    ),
}


def _metrics(path: Path) -> dict:
    metrics = json.loads(path.read_text())
    rows = metrics.get("results") or []
    mse = [r["mse"] for r in rows if isinstance(r, dict) and r.get("method") == "hypernetwork"]
    hyper = [r["accuracy"] for r in rows if isinstance(r, dict) and r.get("method") == "hyperlora"]
    mean = sum(hyper) / len(hyper) if hyper else None
    return {**metrics, "hypernetwork_mse": mse or None, "hyperlora_mean": mean}


@pytest.mark.parametrize("recipe", sorted(CLI_CASES))
def test_recipe_cli_under_torchrun_matches_one_process(tmp_path, recipe):
    """A recipe's CLI under torchrun: each rank trains on its part of every batch, the
    gradients are averaged (DDP, or all_reduce where DDP cannot wrap the loop), rank 0
    alone writes and prints; the figures agree with a one-process run."""
    flags, keys, printed_once = CLI_CASES[recipe]
    _run("-m", "hypernetworks.cli", *flags, "--out", str(tmp_path / "one"))
    result = _run("-m", "hypernetworks.cli", *flags, "--out", str(tmp_path / "two"), ranks=2)
    assert result.stdout.count(printed_once) == 1  # rank 0 prints, rank 1 is silent
    one, two = (_metrics(tmp_path / run / "metrics.json") for run in ("one", "two"))
    for key in keys:
        # (another seed moves the uncertainty NLL by about 8 %: the tolerance tells them apart)
        # (adapters: 24-40 test texts per task, one flip moves a task by 2.5-4 points)
        tolerance = 0.02 if recipe == "adapters" else 0.002
        assert two[key] == pytest.approx(one[key], rel=0.02, abs=tolerance), key


def test_sweep_fit_under_torchrun_takes_the_steps_of_one_process(tmp_path):
    """HyperSweep.fit under torchrun: each rank trains on its rows of every batch and DDP
    averages, so the parameters end where one process's do (up to rounding)."""
    worker = str(Path(__file__).with_name("sweep_ddp_worker.py"))
    _run(worker, str(tmp_path / "one.pt"))
    _run(worker, str(tmp_path / "two.pt"), ranks=2)
    first, second = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert set(first["rows"]) == {32} and set(second["rows"]) == {16}  # batches were split
    torch.testing.assert_close(second["params"], first["params"], rtol=1e-4, atol=1e-5)


def test_close_process_group_destroys_the_group_and_waits_for_gloo() -> None:
    import time

    import torch.distributed as dist

    from hypernetworks import runner

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    start = time.monotonic()
    runner.close_process_group()
    assert not dist.is_initialized()
    # the settling wait that keeps gloo's threads from aborting the interpreter's exit
    assert time.monotonic() - start >= runner._distributed.GLOO_SETTLE_SECONDS
