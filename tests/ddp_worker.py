"""Worker for tests/test_distributed.py, run under torchrun (gloo): a HyperModel in DDP.

Trains a few steps with shared and per-sample conditions on rank-dependent data, then
writes each rank's flattened parameters to ``<out>/rank<r>.pt``.
"""

import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import hypernetworks as hn
from hypernetworks.runner import close_process_group


def main(out: str, head: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # the same initial model on every rank
    spec = hn.LowRank(2) if head == "lowrank" else "full"
    target = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))
    model = DistributedDataParallel(
        hn.hypernetize(target, hn.TaskEmbedding(3, 4), head=spec, hidden=(8,))
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.Generator().manual_seed(100 + rank)  # each rank its own shard
    for step in range(4):
        x = torch.randn(6, 4, generator=data)
        c = 1 if step % 2 == 0 else torch.randint(0, 3, (6,), generator=data)
        optimizer.zero_grad()
        model(x, c).pow(2).mean().backward()
        optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.save(flat, f"{out}/rank{rank}.pt")
    close_process_group()  # not destroy_process_group alone: see its docstring


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
