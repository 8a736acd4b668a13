"""DistributedDataParallel around a HyperModel under torchrun (gloo, 2 processes)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize("head", ["full", "lowrank"])
def test_ddp_ranks_hold_identical_parameters(tmp_path, head):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(29500 + os.getpid() % 1000 + (head == "full")),
        str(WORKER),
        str(tmp_path),
        head,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    # the ranks saw different data: equal parameters mean DDP averaged their gradients
    assert torch.equal(first, second)
