"""Graph hypernetworks: the digits / MNIST-5k benchmark over several seeds, mean ± std.

The same runs as ``hypernetworks graph --benchmark B --seed S`` (one process, 1 thread),
summarised per split (held-out MLPs, held-out CNNs, out-of-distribution), with every run's
metrics in ``benchmarks/results/graph.json`` (or ``--name``). Defaults were chosen on
digits, seed 0; seeds 1 and 2 were never looked at while choosing.

    python benchmarks/graph.py --benchmark digits [--seeds 0 1 2] [--steps 3000]
    python benchmarks/graph.py --benchmark mnist --seeds 0 1 2 --name graph_mnist \
        [--steps 3000] [--held-out 6] [--scratch-steps 3000]

The from-scratch references (trained until validation accuracy stops improving, capped at
``--scratch-steps``) do not depend on the GHN: ``--references-only`` trains them alone,
``--references FILE`` reuses them, and ``--rescore RESULTS --references FILE`` puts them
into an earlier results file (same seeds and architectures) without training anything:

    python benchmarks/graph.py --benchmark mnist --seeds 0 1 2 --references-only \
        --name graph_mnist_references
    python benchmarks/graph.py --benchmark mnist --rescore benchmarks/results/graph_mnist3000.json \
        --references benchmarks/results/graph_mnist_references.json --name graph_mnist3000_converged
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from common import parser, save, setup, table
from hypernetworks.graph import BENCHMARKS, reference_rows
from hypernetworks.graph._benchmarks import _summary
from hypernetworks.graph._decoders import DECODERS, DEFAULT_DECODER

SPLITS = ("held_out_mlp", "held_out_cnn", "out_of_distribution")
KEYS = (
    "zero_shot_accuracy",
    "trained_accuracy",
    "zero_shot_ratio",
    "predicted_10",
    "random_10",
    "predicted_100",
    "random_100",
    "beats_random_at_10",
    "beats_random_at_100",
    "blended_10",
    "blended_100",
    "blended_beats_random_at_10",
    "blended_beats_random_at_100",
    "rescaled_10",
    "rescaled_100",
    "rescaled_beats_random_at_10",
    "rescaled_beats_random_at_100",
    "trained_steps",
    "trained_capped",
)


def _pm(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def _references(path: str | None, seed: int) -> list[dict] | None:
    """Seed ``seed``'s references from a ``--references-only`` file, or from the rows of an
    earlier results file (its trained accuracies, under that run's ``scratch_steps``)."""
    if path is None:
        return None
    with open(path) as f:
        data = json.load(f)
    if "references" in data:
        return data["references"].get(str(seed))
    runs = data.get("runs", [])
    seeds = [
        r.get("seed", s) for r, s in zip(runs, data.get("seeds", [None] * len(runs)), strict=True)
    ]
    for run in (r for r, s in zip(runs, seeds, strict=True) if s == seed):
        return [
            {
                "architecture": row["architecture"],
                "seed": seed * 1000 + i,
                "max_steps": run["sizes"]["scratch_steps"],
                **{k: v for k, v in row.items() if k.startswith("trained")},
            }
            for i, row in enumerate(run["results"])
        ]
    return None


def _one(job: tuple) -> dict:
    (
        name,
        seed,
        steps,
        scratch_steps,
        held,
        pool,
        decoder,
        threads,
        references,
        options,
        keep,
        blend,
        rescale,
    ) = job
    torch.set_num_threads(threads)
    metrics, ghn = BENCHMARKS[name](
        seed=seed,
        steps=steps,
        scratch_steps=scratch_steps,
        held_out_count=held,
        architectures=pool,
        decoder=decoder,
        references=_references(references, seed),
        ghn_options=options,
        blend=blend,
        rescale=rescale,
    )
    if keep:  # the trained GHN, for later analysis of the same rows
        Path(keep).mkdir(parents=True, exist_ok=True)
        ghn.save(Path(keep) / f"ghn_{name}_seed{seed}.pt")
    print(
        f"seed {seed}: GHN trained in {metrics['ghn_fit_seconds']:.0f} s "
        f"({metrics['ghn_fit_cpu_seconds']:.0f} s CPU), evaluation "
        f"{metrics['evaluation_cpu_seconds']:.0f} s CPU",
        flush=True,
    )
    return {"seed": seed, **metrics}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="digits")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="GHN training steps")
    p.add_argument("--scratch-steps", type=int, default=None)
    p.add_argument("--held-out", type=int, default=None, help="held-out architectures")
    p.add_argument("--architectures", type=int, default=None, help="training pool size")
    p.add_argument("--decoder", choices=sorted(DECODERS), default=DEFAULT_DECODER)
    p.add_argument("--name", default="graph", help="results file name (default graph)")
    p.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    p.add_argument(
        "--references",
        default=None,
        help="reuse from-scratch references: a file written by --references-only, or an "
        "earlier results file (give its --scratch-steps too, so that the rows match)",
    )
    p.add_argument(
        "--references-only",
        action="store_true",
        help="only train the from-scratch references (they do not depend on the GHN)",
    )
    p.add_argument(
        "--ghn",
        type=json.loads,
        default=None,
        help="GraphHyperNetwork options, JSON: '{\"dim\": 96}'",
    )
    p.add_argument("--save-ghn", default=None, help="folder for each seed's trained GHN (.pt)")
    p.add_argument(
        "--blend",
        type=float,
        default=0.0,
        help="also fine-tune from apply(..., blend=B) (shrink-and-perturb start); 0: not",
    )
    p.add_argument(
        "--rescale",
        action="store_true",
        help="also fine-tune from apply(..., rescale=True) (weights at the random start's scale)",
    )
    p.add_argument(
        "--rescore",
        default=None,
        help="an earlier results file: replace its trained accuracies by those of "
        "--references (same architectures and seeds) and summarise again, without training",
    )
    args = p.parse_args()
    info = setup(args)
    if args.references_only:
        _only_references(args, info)
        return
    if args.rescore:
        _rescore(args, info)
        return
    jobs = [
        (
            args.benchmark,
            seed,
            args.steps,
            args.scratch_steps,
            args.held_out,
            args.architectures,
            args.decoder,
            args.threads,
            args.references,
            args.ghn,
            args.save_ghn,
            args.blend,
            args.rescale,
        )
        for seed in args.seeds
    ]
    if args.jobs > 1:  # one process per seed, each on its own thread budget
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            _report(list(pool.map(_one, jobs)), args, info)
    else:  # the file is rewritten after every seed, so a cut-short run keeps what it has
        runs: list[dict] = []
        for job in jobs:
            runs.append(_one(job))
            _report(runs, args, info)


def _rescore(args: argparse.Namespace, info: dict) -> None:
    """Rows of ``--rescore`` with the trained accuracies of ``--references``."""
    if args.references is None:
        raise SystemExit("--rescore needs --references")
    with open(args.rescore) as f:
        old = json.load(f)
    runs = []
    for run in (r for r in old["runs"] if r["seed"] in args.seeds):
        refs = _references(args.references, run["seed"]) or []
        by_name = {r["architecture"]: r for r in refs}
        rows = []
        for i, row in enumerate(run["results"]):
            ref = by_name.get(row["architecture"])
            if ref is None or ref["seed"] != run["seed"] * 1000 + i:
                raise SystemExit(
                    f"no reference for seed {run['seed']} {row['architecture']} in "
                    f"{args.references}"
                )
            row = {k: v for k, v in row.items() if not k.startswith("trained")}
            row.update({k: v for k, v in ref.items() if k.startswith("trained")})
            row["zero_shot_ratio"] = row["zero_shot_accuracy"] / max(row["trained_accuracy"], 1e-12)
            rows.append(row)
        means = _summary(rows)
        for key in ("prediction_seconds_mean", "prediction_cpu_seconds_mean"):
            means[key] = run["means"][key]
        sizes = {**run["sizes"], "scratch_steps": refs[0]["max_steps"]}
        runs.append(
            {**run, "sizes": sizes, "results": rows, "means": means, "rescored_from": args.rescore}
        )
    _report(runs, args, info)


def _only_references(args: argparse.Namespace, info: dict) -> None:
    """Train the references seed after seed, resuming from ``--out/--name`` if it exists.

    Finished seeds (``references``) are kept and skipped; rows of an unfinished seed
    (``references_partial``) are reused. The file is rewritten after every row.
    """
    torch.set_num_threads(args.threads)
    path = Path(args.out) / f"{args.name}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if old and old.get("benchmark") != args.benchmark:
        raise SystemExit(
            f"{path} holds {old.get('benchmark')!r} references, not {args.benchmark!r}"
        )
    done: dict[str, list] = old.get("references", {})
    partial: dict[str, list] = old.get("references_partial", {})
    cpu_per_seed = dict(old.get("info", {}).get("cpu_seconds_per_seed", {}))
    commands = [c for c in [old.get("info", {}).get("command")] if c]
    info = {**info, "command": " ; ".join([*commands, info["command"]])}

    def write() -> Path:
        payload = {
            "info": {**info, "cpu_seconds_per_seed": cpu_per_seed},
            "benchmark": args.benchmark,
            "references": done,
        }
        if partial:
            payload["references_partial"] = partial
        return save(args.out, args.name, payload)

    for seed in args.seeds:
        if str(seed) in done:
            print(f"seed {seed}: references already complete in {path}, kept", flush=True)
            continue
        rows: list[dict] = []
        known = partial.get(str(seed), [])
        start = time.process_time()

        def keep(row: dict, seed: int = seed, rows: list = rows, known: list = known) -> None:
            rows.append(row)
            print(
                f"seed {seed} {row['architecture']}: {row['trained_accuracy']:.3f} at step "
                f"{row['trained_steps']} (stopped at {row['trained_stopped_at']}"
                f"{', capped' if row['trained_capped'] else ''})"
                f"{' [reused]' if row in known else ''}",
                flush=True,
            )
            partial[str(seed)] = list(rows)
            write()

        done[str(seed)] = reference_rows(
            args.benchmark,
            seed=seed,
            architectures=args.architectures,
            held_out_count=args.held_out,
            scratch_steps=args.scratch_steps,
            known=known,
            on_row=keep,
        )
        spent = time.process_time() - start
        cpu_per_seed[str(seed)] = cpu_per_seed.get(str(seed), 0.0) + spent
        partial.pop(str(seed), None)
        print(f"wrote {write()} (complete seeds {sorted(done)})", flush=True)


def _report(runs: list[dict], args: argparse.Namespace, info: dict) -> None:
    """Print the per-split table over ``runs`` and write the results file."""
    rows = []
    for split in SPLITS:
        present = [r["means"][split] for r in runs if split in r["means"]]
        if present:
            rows.append(
                {
                    "split": split,
                    "n": present[0]["count"],
                    **{k: _pm([m[k] for m in present]) for k in KEYS if k in present[0]},
                }
            )
    columns = [("split", "split", ""), ("n", "n", "")] + [(k, k, "") for k in KEYS if k in rows[0]]
    print(table(rows, columns))
    held = [r["means"]["held_out"] for r in runs]
    summary = {
        "per_split": rows,
        "held_out_beats_random_at_10": _pm([h["beats_random_at_10"] for h in held]),
        "held_out_beats_random_at_100": _pm([h["beats_random_at_100"] for h in held]),
        **{
            f"held_out_{k}": _pm([h[k] for h in held])
            for k in (
                "blended_beats_random_at_10",
                "blended_beats_random_at_100",
                "rescaled_beats_random_at_10",
                "rescaled_beats_random_at_100",
            )
            if all(k in h for h in held)
        },
        "prediction_seconds": _pm([r["means"]["prediction_seconds_mean"] for r in runs]),
        "prediction_cpu_seconds": _pm([r["means"]["prediction_cpu_seconds_mean"] for r in runs]),
        "ghn_fit_seconds": _pm([r["ghn_fit_seconds"] for r in runs]),
        "ghn_fit_cpu_seconds": _pm([r["ghn_fit_cpu_seconds"] for r in runs]),
        "evaluation_cpu_seconds": _pm([r["evaluation_cpu_seconds"] for r in runs]),
    }
    print({k: v for k, v in summary.items() if k != "per_split"})
    seeds = [r["seed"] for r in runs]
    path = save(
        args.out,
        args.name,
        {
            "info": info,
            "benchmark": args.benchmark,
            "seeds": seeds,
            "summary": summary,
            "runs": runs,
        },
    )
    print(f"wrote {path} (seeds {seeds})", flush=True)


if __name__ == "__main__":
    main()
