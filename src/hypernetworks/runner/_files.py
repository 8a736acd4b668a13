"""Files a run writes: atomically (temp file, fsync, rename), under a lock on the folder."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ._errors import OutputBusyError, OutputError

__all__ = ["OutputLock", "atomic_write", "check_writable", "write_json"]


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` through ``write(file)`` so that readers see the old or the new file,
    never half of one: a uniquely named temp file beside it, fsync, rename, fsync of the
    folder. Two writers never share a temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_json(path: str | Path, data: Mapping[str, object]) -> Path:
    """Write ``data`` as indented JSON, atomically. Non-finite floats are refused."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text.encode()))


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` and write a file in it, or raise :class:`OutputError` naming it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--out {folder} is a file, not a folder; choose a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise OutputError(
            f"cannot write to --out {folder} ({error.strerror or error}); choose a folder "
            "you can write to"
        ) from error
    return folder


class OutputLock:
    """An exclusive lock on ``folder/.lock`` (fcntl), held for the whole run.

    The operating system drops it when the process ends, so a crashed run never leaves a
    stale lock behind.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / ".lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        import fcntl

        handle = open(self.path, "a+")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise OutputBusyError(
                f"another run (pid {owner}) is writing to {self.path.parent}; wait for it to "
                "finish or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            import fcntl

            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
