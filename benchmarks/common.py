"""Shared benchmark machinery: interleaved timing, tables, JSON, machine facts.

Timings are ratios measured inside one process. Every case is warmed up, then the cases
are run round-robin (one step of each, repeated), so slow drifts of a noisy machine hit
all of them alike; each case reports the median of its repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

Step = Callable[[], object]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeats", type=int, default=30, help="timed repeats per case (default 30)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON results")
    return p


def setup(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": args.device,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(
    steps: dict[str, Step],
    repeats: int,
    device: str = "cpu",
    warmup: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per call of each step, running the steps round-robin.

    ``clock=time.process_time`` measures this process's CPU time (single-threaded CPU
    runs): less inflated than wall time when other processes share the cores.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    sync(device)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            sync(device)
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Format ``rows`` as a Markdown table; ``columns`` is (key, header, format)."""

    def cell(row: dict, key: str, fmt: str) -> str:
        value = row.get(key)
        if value is None:
            return "—"
        return format(value, fmt) if fmt and not isinstance(value, str) else str(value)

    lines = [
        "| " + " | ".join(h for _, h, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(r, k, f) for k, _, f in columns) + " |" for r in rows]
    return "\n".join(lines)


def save(out: str, name: str, payload: dict) -> Path:
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"{name}.json"
    target.write_text(json.dumps(payload, indent=2))
    return target


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def try_import(name: str):
    """Import an optional anchor library; None (with the reason) when it is missing."""
    try:
        return __import__(name), None
    except Exception as error:  # noqa: BLE001 - report any import failure as 'cannot run'
        return None, f"{type(error).__name__}: {error}"
