"""``Run``: what every recipe's run shares, from seeding to the files it leaves behind."""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import torch

from ._distributed import close_process_group, init_from_environment
from ._errors import CheckpointError, DeviceError
from ._files import OutputLock, atomic_write, check_writable, write_json
from ._report import check_finite, format_table, progress

__all__ = ["CHECKPOINT_FORMAT", "Run"]

CHECKPOINT_FORMAT = "hypernetworks-checkpoint/1"
T = TypeVar("T")


def _check_config(config: object, where: str = "config") -> None:
    if isinstance(config, Mapping):
        for key, value in config.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} keys must be str, got {key!r}")
            _check_config(value, f"{where}[{key!r}]")
    elif isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            _check_config(value, f"{where}[{i}]")
    elif not (config is None or isinstance(config, (bool, int, float, str))):
        raise TypeError(
            f"{where} must hold only None, bool, int, float, str, lists and dicts "
            f"(it is saved in checkpoints and metrics.json), got "
            f"{type(config).__name__}"
        )


def _plain(value: Any) -> Any:
    """Tuples as lists, so a configuration compares equal after a round trip."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_main_process() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class Run:
    """One run of a recipe: seeded, locked, checked, and writing its files atomically.

    Args:
        recipe: the recipe's name (stored in checkpoints; a checkpoint of another recipe
            is refused).
        config: everything that shapes the result (JSON-like values). It is stored in
            every checkpoint and in ``metrics.json``; ``resume`` refuses a checkpoint whose
            configuration differs.
        out: folder for the run's files, or None to write nothing.
        seed: seeds torch, numpy and ``random`` on entry.
        resume: continue from ``out/checkpoint.pt``; :attr:`resumed` holds its state.
        progress: show progress bars.
        threads: torch CPU threads for the run (None: leave as is).
        device: the torch device the recipe should use.

    On exit the random states and the thread count found on entry are restored, and the
    lock is released. Started by ``torchrun`` (``WORLD_SIZE`` > 1) it opens the process
    group on entry and closes it on exit; only rank 0 writes files, prints (other ranks'
    standard output is silenced inside the block) and shows progress bars (see
    :mod:`hypernetworks.runner._distributed`).

    Example:
        >>> from hypernetworks.runner import Run
        >>> with Run("demo", {"lr": 0.1}, seed=3) as run:
        ...     loss = run.check_finite(0.25, step=1)
        >>> loss
        0.25
    """

    def __init__(
        self,
        recipe: str,
        config: Mapping[str, object],
        *,
        out: str | Path | None = None,
        seed: int = 0,
        resume: bool = False,
        progress: bool = True,
        threads: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        _check_config(config)
        if resume and out is None:
            raise CheckpointError(
                "resume=True needs out, the folder holding checkpoint.pt (--resume needs --out)"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.recipe = recipe
        self.config: dict[str, Any] = _plain(dict(config))
        self.out = None if out is None else Path(out)
        self.seed = seed
        self.resume = resume
        self.show_progress = progress
        self.threads = threads
        self.device = self._device(device)
        self.resumed: Any = None
        self.is_main = _is_main_process()
        self._owns_group = False
        self._quiet: contextlib.redirect_stdout | None = None
        self._lock: OutputLock | None = None
        self._saved: tuple[Any, ...] | None = None
        self._started = 0.0

    @classmethod
    def from_args(cls, recipe: str, args: argparse.Namespace, config: Mapping[str, object]) -> Run:
        """A run configured by the common flags of :func:`add_common_arguments`."""
        return cls(
            recipe,
            config,
            out=args.out,
            seed=args.seed,
            resume=args.resume,
            progress=not args.no_progress,
            threads=args.threads,
            device=args.device,
        )

    @staticmethod
    def _device(device: str | torch.device) -> torch.device:
        try:
            result = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as error:
            raise DeviceError(
                f"--device must name a torch device (cpu, cuda, cuda:1, ...), got {device!r}"
            ) from error
        if result.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(
                f"--device {device} asks for CUDA, which this machine does not "
                "have; use --device cpu"
            )
        return result

    # -- entering and leaving -----------------------------------------------------
    def __enter__(self) -> Run:
        self._owns_group = init_from_environment(self.device)
        if self._owns_group and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.is_main = _is_main_process()
        if not self.is_main:  # other ranks print nothing (restored on exit)
            self._quiet = contextlib.redirect_stdout(io.StringIO())
            self._quiet.__enter__()
        if self.out is not None and self.is_main:
            check_writable(self.out)
            self._lock = OutputLock(self.out)
            self._lock.acquire()
        try:
            self._saved = (
                torch.get_rng_state(),
                np.random.get_state(),
                random.getstate(),
                torch.get_num_threads(),
            )
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            torch.manual_seed(self.seed)
            np.random.seed(self.seed % 2**32)
            random.seed(self.seed)
            if self.resume:
                self.resumed = self._load_checkpoint()
        except BaseException:
            self._leave()
            raise
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._leave()

    def _leave(self) -> None:
        if self._saved is not None:
            torch_state, numpy_state, random_state, threads = self._saved
            torch.set_rng_state(torch_state)
            np.random.set_state(numpy_state)
            random.setstate(random_state)
            torch.set_num_threads(threads)
            self._saved = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._quiet is not None:
            self._quiet.__exit__(None, None, None)
            self._quiet = None
        if self._owns_group:
            close_process_group()
            self._owns_group = False

    # -- during the run -----------------------------------------------------------
    @property
    def seconds(self) -> float:
        """Wall-clock seconds since the run was entered."""
        return time.perf_counter() - self._started

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded by ``(seed, offset)``: one stream per purpose."""
        state = np.random.SeedSequence([self.seed, offset]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(state))

    def progress(
        self, iterable: Iterable[T], *, total: int | None = None, desc: str = ""
    ) -> Iterable[T]:
        """``iterable`` with a progress bar (unless ``progress=False``; rank 0 only)."""
        enabled = self.show_progress and self.is_main
        return progress(iterable, total=total, desc=desc, enabled=enabled)

    @staticmethod
    def check_finite(value: torch.Tensor | float, *, step: object, what: str = "loss") -> float:
        """``float(value)``, or :class:`NonFiniteError` naming ``step`` and the value."""
        return check_finite(value, step=step, what=what)

    def print_table(
        self,
        rows: Sequence[Mapping[str, object]],
        columns: Sequence[tuple[str, str, str]],
        *,
        title: str | None = None,
    ) -> None:
        """Print a results table (see :func:`format_table`), on rank 0 only."""
        if self.is_main:
            print(("" if title is None else f"\n{title}\n") + format_table(rows, columns))

    # -- files --------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out is None else self.out / "checkpoint.pt"

    def save_checkpoint(self, state: Mapping[str, object]) -> Path | None:
        """Save ``state`` (tensors, numbers, strings, lists, dicts) with the run's recipe
        and configuration, atomically. Loadable with ``torch.load(weights_only=True)``."""
        path = self.checkpoint_path
        if path is None or not self.is_main:
            return None
        payload = {
            "format": CHECKPOINT_FORMAT,
            "recipe": self.recipe,
            "config": self.config,
            "seed": self.seed,
            "state": dict(state),
        }
        return atomic_write(path, lambda handle: torch.save(payload, handle))

    def _load_checkpoint(self) -> Any:
        path = self.checkpoint_path
        if path is None or not path.is_file():
            raise CheckpointError(
                f"--resume: there is no checkpoint at {path} to resume from; "
                "run without --resume to start afresh"
            )
        try:
            payload = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as error:  # torch raises many kinds for a damaged file
            raise CheckpointError(
                f"{path} is not a readable hypernetworks checkpoint ({type(error).__name__}); it "
                "may be damaged or written by another program. Do not load it with "
                "weights_only=False. Move it away (or choose another --out) and run without "
                "--resume to start afresh"
            ) from None
        if not (isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT):
            raise CheckpointError(
                f"{path} was not written by the hypernetworks runner; move it "
                "away (or choose another --out) and run without --resume"
            )
        if payload.get("recipe") != self.recipe:
            raise CheckpointError(
                f"{path} belongs to the {payload.get('recipe')!r} recipe, not "
                f"{self.recipe!r}; choose another --out"
            )
        saved = {**payload.get("config", {}), "seed": payload.get("seed")}
        now = {**self.config, "seed": self.seed}
        changed = [
            f"{k}: {saved.get(k, '(unset)')!r} in the checkpoint, {now.get(k, '(unset)')!r} now"
            for k in sorted(set(saved) | set(now))
            if saved.get(k) != now.get(k)
        ]
        if changed:
            raise CheckpointError(
                f"refusing to resume from {path}: it was made with another configuration ("
                + "; ".join(changed)
                + "). Rerun with the checkpoint's values, or choose "
                "another --out to start a new run"
            )
        return payload["state"]

    def write_metrics(self, metrics: Mapping[str, object]) -> Path | None:
        """Write ``out/metrics.json`` atomically, with the configuration and seed added."""
        if self.out is None or not self.is_main:
            return None
        return write_json(
            self.out / "metrics.json",
            {"recipe": self.recipe, "config": self.config, "seed": self.seed, **metrics},
        )

    def save_figure(self, figure: Any, name: str) -> Path | None:
        """Save a matplotlib figure as ``out/name`` atomically, and close it."""
        import matplotlib.pyplot as plt

        try:
            if self.out is None or not self.is_main:
                return None
            buffer = io.BytesIO()
            figure.savefig(buffer, format=Path(name).suffix.lstrip(".") or "png", dpi=120)
            return atomic_write(self.out / name, lambda handle: handle.write(buffer.getvalue()))
        finally:
            plt.close(figure)
