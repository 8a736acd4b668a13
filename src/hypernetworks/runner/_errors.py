"""What a run reports when it cannot go on. The ``hypernetworks`` command prints these as
one line and exits with status 1."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DeviceError",
    "NonFiniteError",
    "OutputBusyError",
    "OutputError",
    "RunError",
]


class RunError(RuntimeError):
    """Base class of everything the runner reports."""


class OutputError(RunError, OSError):
    """``--out`` cannot be written: it is a file, or permission is missing."""


class OutputBusyError(RunError):
    """Another run holds the lock on the same ``--out`` folder."""


class CheckpointError(RunError, ValueError):
    """A checkpoint cannot be resumed: corrupt, foreign, or made with another configuration."""


class NonFiniteError(RunError, FloatingPointError):
    """A loss (or other monitored value) became NaN or infinite."""


class DeviceError(RunError, ValueError):
    """``--device`` names no device, or one this machine does not have."""
