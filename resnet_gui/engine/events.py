"""Events a long engine call reports through `on_event(event)`.

Small frozen dataclasses: the CLI prints them, the app's worker re-emits them as Qt signals.
Epochs are 1-based. StepDone is throttled by the engine (a few per second, plus each epoch's last step).
A finished run with a validation split ends with EvalStarted/EvalDone (the best model evaluated) before RunFinished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    arch: str
    device: str
    device_name: str
    classes: list[str]
    num_train: int
    num_val: int
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    img_size: int
    out_dir: str


@dataclass(frozen=True)
class StepDone:
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    lr: float
    img_per_s: float
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochDone:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    epoch_s: float
    img_per_s: float
    is_best: bool
    eta_s: float


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    kind: str  # "best" | "last"
    epoch: int
    val_acc: float | None


@dataclass(frozen=True)
class ImageSkipped:
    path: str
    reason: str


@dataclass(frozen=True)
class RunFinished:
    result: Any  # TrainResult (kept as Any to avoid an import cycle)


@dataclass(frozen=True)
class RunFailed:
    error: str


@dataclass(frozen=True)
class EvalStarted:
    checkpoint: str  # the model being evaluated (the run's best)
    num_images: int


@dataclass(frozen=True)
class EvalDone:
    result: Any  # EvalResult, per-image records included (kept as Any, like RunFinished)
