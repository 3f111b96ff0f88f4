"""Errors a user can cause. Each message is one sentence the CLI prints and the app shows."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: the message is user-facing."""


class DatasetError(EngineError):
    """The dataset folder cannot be used (missing, no classes, a single class, ...)."""


class ImageLoadError(EngineError):
    """One image could not be read; `reason` is short enough for a table cell."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class CheckpointError(EngineError):
    """A checkpoint cannot be read or does not fit what was asked for."""


class PretrainedWeightsMissing(EngineError):
    """ImageNet weights were asked for but are not on disk (we never download)."""


class DeviceOutOfMemory(EngineError):
    """The GPU (or CPU) ran out of memory during a run; the message suggests a smaller batch."""


class RunCrashed(EngineError):
    """The training process died (a signal, the OOM killer, an exception outside the engine's own errors)
    or was killed after a Stop it did not honour; the message says how and ends with its last stderr lines.
    Checkpoints already on disk stay loadable (every write is atomic)."""

    def __init__(
        self,
        message: str,
        returncode: int | None = None,
        stderr_tail: list[str] | None = None,
        on_request: bool = False,
    ):
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = list(stderr_tail or [])
        self.on_request = on_request  # killed by us: a second Stop, or no exit within the grace period
