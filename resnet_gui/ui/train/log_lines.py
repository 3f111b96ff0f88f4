"""What the Train tab says about a run: a log line per engine event and the progress bar's value; plain
values, no widgets (the view shows them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from resnet_gui.engine.config import arch_label
from resnet_gui.format import fmt_pct

if TYPE_CHECKING:
    from resnet_gui.engine import events as ev
    from resnet_gui.engine.evaluate import EvalResult


def progress_permille(start_epoch: int, epochs: int, steps: int, epoch: int, step: int) -> int:
    """The progress bar's value (0..1000) at `step` of `epoch` (1-based) of a run that began after
    `start_epoch` completed epochs and has `steps` steps per epoch."""
    total = max(1, (epochs - start_epoch) * steps)
    done = (epoch - 1 - start_epoch) * steps + step
    return int(1000 * min(1.0, max(0.0, done / total)))


def started(e: ev.RunStarted) -> list[str]:
    """Two lines: what trains on what, and where its checkpoints go."""
    what = "Continuing" if e.start_epoch > 0 else "Training"
    return [
        f"{what} {arch_label(e.arch)} on {e.device_name}: {len(e.classes)} classes, "
        f"{e.num_train} train / {e.num_val} val images at {e.img_size} px, "
        f"epochs {e.start_epoch + 1}–{e.epochs}, {e.steps_per_epoch} steps each.",
        f"  checkpoints go to {e.out_dir}",
    ]


def epoch(e: ev.EpochDone) -> str:
    val = (
        f"val loss {e.val_loss:.3f} acc {fmt_pct(e.val_acc)}"
        if e.val_loss is not None
        else "no validation set"
    )
    star = "  ★ best" if e.is_best else ""
    return (
        f"Epoch {e.epoch:>3}/{e.epochs}  train loss {e.train_loss:.3f} acc {fmt_pct(e.train_acc)}  "
        f"{val}  ({e.epoch_s:.1f} s, {e.img_per_s:.0f} img/s){star}"
    )


def saved(e: ev.CheckpointSaved) -> str:
    """The run folder was logged once at the start: one short line per save stays readable."""
    if e.epoch == 0:  # stopped during the first epoch: a partly trained model, never validated
        return f"  saved {Path(e.path).name} (stopped during epoch 1: partly trained, not validated)"
    return f"  saved {Path(e.path).name} (epoch {e.epoch}, val acc {fmt_pct(e.val_acc)})"


def evaluated(result: EvalResult) -> str:
    return (
        f"Evaluated the best model on {result.num_images} validation images: accuracy "
        f"{fmt_pct(result.accuracy)}, {len(result.misclassified)} misclassified (Evaluation tab)."
    )
