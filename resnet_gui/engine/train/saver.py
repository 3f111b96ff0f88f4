"""Checkpoints of a training run: `last` and `best`, and the metric that decides which epoch is best.

After timm's `utils/checkpoint_saver.py`: one saver owns both files and the comparison. `last` is the
model file plus its resume state (optimizer, schedule, epoch, RNG), written as an atomic pair every epoch;
an improving epoch then copies last's model file to `best`, so the model is serialised once per epoch.
A run that finishes drops the resume state (`finish`); a stopped or killed run keeps it.
File names: `<run>/last.safetensors`, `<run>/last.state.pt`, `<run>/best.safetensors`.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import torch
from torch import nn

from resnet_gui.engine import fileio
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.errors import CheckpointError
from resnet_gui.engine.events import CheckpointSaved
from resnet_gui.engine.model import checkpoint as ckpt

__all__ = ["BEST", "LAST", "CheckpointSaver", "ModelCard", "run_folder"]

BEST = "best.safetensors"
LAST = "last.safetensors"


@dataclass(frozen=True)
class ModelCard:
    """What every checkpoint of a run says about its model (the same for all of its epochs)."""

    config: TrainConfig  # the config the run trains with (after --resume: the resumed one)
    classes: Sequence[str]
    img_size: int
    mean: Sequence[float]
    std: Sequence[float]

    def meta(
        self, epoch: int, history: list[dict], best_val_acc: float | None, val: dict, train: dict
    ) -> ckpt.CheckpointMeta:
        """The checkpoint metadata after `epoch` completed epochs."""
        config = asdict(self.config)
        config["img_size"] = self.img_size
        return ckpt.CheckpointMeta(
            arch=self.config.arch,
            classes=list(self.classes),
            img_size=self.img_size,
            mean=list(self.mean),
            std=list(self.std),
            metrics={
                "epoch": epoch,
                "best_val_acc": best_val_acc,
                "val_acc": val.get("acc"),
                "val_loss": val.get("loss"),
                "train_loss": train.get("loss"),
                "train_acc": train.get("acc"),
            },
            config=config,
            history=list(history),
            versions=ckpt.current_versions(),
            created=datetime.now().astimezone().isoformat(timespec="seconds"),
        )


def continued_folder(config: TrainConfig) -> Path | None:
    """The folder a `--resume` run continues in: the checkpoint's own run folder when the checkpoint is that
    run's `last.safetensors`, `out_dir` is the default or that folder's parent, and a `best.safetensors`
    beside it (if any) is of the same model (architecture and classes). None otherwise: the run then gets
    a fresh folder in `out_dir`, so it never replaces a model it did not produce."""
    from resnet_gui.engine.config import DEFAULTS, default_runs_dir
    from resnet_gui.engine.model.weights import read_metadata

    path = Path(str(config.resume)).resolve()
    folder = path.parent
    if path.name != LAST:
        return None
    defaults = {DEFAULTS.out_dir, str(default_runs_dir())}  # the runs folder as it is now ($RESNET_GUI_HOME)
    if config.out_dir not in defaults and Path(config.out_dir).resolve() != folder.parent:
        return None
    best = folder / BEST
    if best.exists():
        try:
            mine, theirs = read_metadata(path) or {}, read_metadata(best) or {}
        except CheckpointError:
            return None
        if (mine.get("arch"), mine.get("classes")) != (theirs.get("arch"), theirs.get("classes")):
            return None
    return folder


def run_folder(config: TrainConfig, dataset_root: str) -> Path:
    """Where a run's files go: a resumed run stays in its folder when it continues that run's `last`
    (`continued_folder`); any other run gets a fresh folder inside `out_dir`, named `run_name` or
    `<dataset>-<arch>-<timestamp>` (`-2`, `-3`, ... when taken)."""
    if config.resume:
        folder = continued_folder(config)
        if folder is not None:
            return folder
    name = (
        config.run_name or f"{Path(dataset_root).name or 'data'}-{config.arch}-{datetime.now():%Y%m%d-%H%M%S}"
    )
    run_dir = Path(config.out_dir) / name
    n = 1
    while run_dir.exists() and any(run_dir.iterdir()):
        n += 1
        run_dir = Path(config.out_dir) / f"{name}-{n}"
    return run_dir


class CheckpointSaver:
    """Writes a run's `last` and `best` and judges which epoch is best; emits CheckpointSaved per file.

    The score is the validation accuracy (higher is better; `best_val_acc` holds the best so far). Without
    validation images every epoch counts as the best (its train loss is all there is to go by), and
    `best_val_acc` stays None. A resumed run starts from its checkpoint's best. `enabled=False` (any
    process but the first of a distributed run) judges but writes nothing.
    """

    def __init__(
        self,
        run_dir: Path,
        card: ModelCard,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler | None,
        loader_rng: torch.Generator,
        emit: Callable[[object], None],
        best_val_acc: float | None = None,
        resumed: bool = False,
        enabled: bool = True,
        extra_state: Callable[[], dict] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.best_path = self.run_dir / BEST
        self.last_path = self.run_dir / LAST
        self.card = card
        self.model, self.optimizer, self.scheduler, self.scaler = model, optimizer, scheduler, scaler
        self.loader_rng = loader_rng
        self.emit = emit
        self.enabled = enabled
        self.extra_state = extra_state  # more resume state for last.state.pt (the EMA's raw weights)
        self.best_val_acc = best_val_acc
        self._have_best = resumed and self.best_path.exists()  # a fresh run's folder holds no best yet
        self.lock = fileio.FolderLock(self.run_dir)

    def prepare(self) -> None:
        """Fail early, with a clear message, when the run folder cannot hold the checkpoints (creates it)
        or another run writes it (its FolderLock, held from here to the end of the run), and remove the
        temp files a killed run left there and beside it."""
        if not self.enabled:
            return
        model_bytes = sum(t.numel() * t.element_size() for t in self.model.state_dict().values())
        fileio.check_writable(self.run_dir, need_bytes=5 * model_bytes)  # best + last + state + a temp copy
        self.lock.acquire()
        fileio.clean_stale_temp_files(self.run_dir.parent, recursive=True)

    def close(self) -> None:
        """The run is over: let another run write this folder."""
        self.lock.release()

    def is_best(self, val_acc: float | None, train_loss: float) -> bool:
        """Whether the epoch just done beats the best so far; if so it becomes the best."""
        score = val_acc if val_acc is not None else -train_loss
        best = self.best_val_acc is None or not self._have_best or score > self.best_val_acc
        if best:
            self.best_val_acc = score if val_acc is not None else None
        return best

    def save(
        self, epoch: int, history: list[dict], *, val: dict, train: dict, best: bool, write_last: bool = True
    ) -> None:
        """After a completed epoch: write `last`; copy it to `best` when `best` (see `is_best`).
        `write_last=False` (TrainConfig.last_every): only an improving epoch writes, `best` alone."""
        if not self.enabled:
            return
        if write_last:
            self._write_last(epoch, history, val, train)
        elif best:
            self._write_best(epoch, history, val, train)
        if best:
            if write_last:
                self._copy_last_to_best()
            self._have_best = True
            self.emit(CheckpointSaved(str(self.best_path), "best", epoch, val.get("acc")))

    def save_stopped(self, epoch: int, history: list[dict], *, val: dict, train: dict) -> None:
        """Stopped mid-epoch: keep what was learned as `last` (`epoch` = completed epochs), and as `best`
        too when there is none yet."""
        if not self.enabled:
            return
        self._write_last(epoch, history, val, train)
        if not self.best_path.exists():
            self._copy_last_to_best()
            self.emit(CheckpointSaved(str(self.best_path), "best", epoch, None))

    def finish(self, stopped: bool) -> None:
        """End of the run: a finished run drops `last`'s resume state (the optimizer's moments, twice the
        model's size); a stopped one keeps it, so `--resume` continues exactly. Continuing a finished run
        still works: the weights and the schedule's position resume, the optimizer starts fresh (train/resume.py)."""
        if not self.enabled or stopped:
            return
        ckpt.training_state_path(self.last_path).unlink(missing_ok=True)

    def load_best(self) -> tuple[dict[str, torch.Tensor], ckpt.CheckpointMeta]:
        return ckpt.load_checkpoint(self.best_path)

    def store_evaluation(
        self, weights: dict[str, torch.Tensor], meta: ckpt.CheckpointMeta, summary: dict
    ) -> None:
        """Rewrite `best` (atomically) with an evaluation summary in its metrics."""
        meta.metrics["eval"] = summary
        ckpt.save_checkpoint(self.best_path, weights, meta)

    def _write_last(self, epoch: int, history: list[dict], val: dict, train: dict) -> None:
        """Model file and the resume state beside it, written as a pair."""
        meta = self.card.meta(epoch, history, self.best_val_acc, val, train)
        model = ckpt.checkpoint_writer(self.model, meta)
        state = ckpt.training_state_bytes(
            {
                "epoch": epoch,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "torch_rng": torch.get_rng_state(),
                "loader_rng": self.loader_rng.get_state(),
                **(self.extra_state() if self.extra_state is not None else {}),
            }
        )
        path = self.last_path
        try:
            fileio.atomic_write_many([(path, model), (ckpt.training_state_path(path), state)])
        except OSError as exc:
            raise CheckpointError(f"could not write {path}: {exc.strerror or exc}") from exc
        self.emit(CheckpointSaved(str(path), "last", epoch, val.get("acc")))

    def _write_best(self, epoch: int, history: list[dict], val: dict, train: dict) -> None:
        meta = self.card.meta(epoch, history, self.best_val_acc, val, train)
        try:
            fileio.atomic_write_many([(self.best_path, ckpt.checkpoint_writer(self.model, meta))])
        except OSError as exc:
            raise CheckpointError(f"could not write {self.best_path}: {exc.strerror or exc}") from exc

    def _copy_last_to_best(self) -> None:
        try:
            fileio.atomic_write_many([(self.best_path, functools.partial(shutil.copyfile, self.last_path))])
        except OSError as exc:
            raise CheckpointError(f"could not write {self.best_path}: {exc.strerror or exc}") from exc
