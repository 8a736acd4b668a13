"""Scale: generating the weights of a 50M-parameter target with compact heads.

The target is an MLP of three Linear(4096, 4096) layers (50.3M parameters, 201 MB in
float32). Each case runs in a fresh process, which creates the target, hypernetizes it,
deletes the original (the HyperModel keeps its own copy: θ₀ under MIP), and generates the
weights once to warm up, then times ``generate`` — without gradients (inference), and
with a backward pass through a scalar of the weights (training). Peak memory is the
process's peak resident set size minus its size just before the target was created,
divided by the target's weight bytes.

    python benchmarks/scale.py
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

from common import parser, save, setup, table

CASES = {
    "Chunked(65536, 16), MIP": ("chunked", True),
    "LowRank(8), MIP": ("lowrank", True),
    "Chunked(65536, 16), plain": ("chunked", False),
    "LowRank(8), plain": ("lowrank", False),
}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _case(head_name: str, mip: bool, backward: bool, threads: int, queue) -> None:
    import torch
    from torch import nn

    import hypernetworks as hn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    start = _rss_bytes()
    target = nn.Sequential(*[nn.Linear(4096, 4096) for _ in range(3)])
    weight_bytes = sum(p.numel() * p.element_size() for p in target.parameters())
    head = (
        hn.Chunked(chunk_size=65536, embedding_dim=16, hidden=16)
        if head_name == "chunked"
        else hn.LowRank(rank=8)
    )
    model = hn.hypernetize(
        target, hn.Hyperparameters(lam=(0.0, 1.0)), head=head, hidden=(16,), mip=mip
    )
    del target

    def generate():
        if backward:
            weights = model.generate({"lam": 0.5})
            sum(w.sum() for w in weights.values()).backward()
        else:
            with torch.no_grad():
                model.generate({"lam": 0.5})

    generate()
    model.zero_grad(set_to_none=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        generate()
        times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start
    head_params = sum(p.numel() for p in model.head.parameters())
    queue.put(
        {
            "seconds": sorted(times)[1],
            "peak_over_weights": peak / weight_bytes,
            "weight_mb": weight_bytes / 2**20,
            "peak_mb": peak / 2**20,
            "head_params": head_params,
        }
    )


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    info = setup(args)
    ctx = mp.get_context("spawn")
    rows = []
    for label, (head, mip) in CASES.items():
        for backward in (False, True):
            queue = ctx.Queue()
            proc = ctx.Process(target=_case, args=(head, mip, backward, args.threads, queue))
            proc.start()
            result = queue.get()
            proc.join()
            rows.append(
                {"case": label, "mode": "generate + backward" if backward else "generate", **result}
            )
    print(
        f"Scale: 50.3M-parameter target ({rows[0]['weight_mb']:.0f} MB), "
        f"{info['threads']} thread(s), median of 3:\n"
    )
    print(
        table(
            rows,
            [
                ("case", "head", ""),
                ("mode", "mode", ""),
                ("head_params", "head params", ","),
                ("seconds", "time s", ".3f"),
                ("peak_mb", "peak MB", ".0f"),
                ("peak_over_weights", "peak / weight bytes", ".2f"),
            ],
        )
    )
    print(f"\nwrote {save(args.out, 'scale', {'info': info, 'rows': rows})}")


if __name__ == "__main__":
    main()
