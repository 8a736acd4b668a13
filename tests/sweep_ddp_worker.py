"""Worker for tests/test_distributed.py: ``HyperSweep.fit`` in one process or under
torchrun (its batches split by rank, DDP averaging), writing the final parameters."""

import sys

import torch
import torch.nn.functional as F
from torch import nn

from hypernetworks import runner
from hypernetworks.sweep import HyperSweep, LogUniform

ROWS: list[int] = []  # rows of every batch this process saw


def loss(net, batch, hp):
    x, y = batch
    ROWS.append(x.shape[0])
    decay = sum(p.pow(2).sum() for p in net.params.values())
    return F.cross_entropy(net(x), y) + hp["weight_decay"] * decay


def main(out: str) -> None:
    with runner.Run("sweep", {}, seed=0, progress=False, threads=1) as run:
        x = torch.randn(96, 6, generator=run.generator(1))
        y = (x[:, 0] > 0).long()
        sweep = HyperSweep(nn.Linear(6, 2), {"weight_decay": LogUniform(1e-4, 1e-1)}, loss)
        optimizer = torch.optim.SGD(sweep.parameters(), lr=0.1)  # no Adam: no sign flips
        sweep.fit((x, y), steps=15, batch_size=32, optimizer=optimizer, progress=False)
        if run.is_main:
            flat = torch.cat([p.detach().flatten() for p in sweep.parameters()])
            torch.save({"params": flat, "rows": ROWS}, out)


if __name__ == "__main__":
    main(sys.argv[1])
