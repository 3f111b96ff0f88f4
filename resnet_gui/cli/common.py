"""What every subcommand shares: exit codes, the usage error, progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import sys

from resnet_gui.format import fmt_duration, fmt_pct

SUBCOMMANDS = ("gui", "demo-data", "train", "predict", "eval", "inspect", "export", "bench")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
EXIT_STOPPED = 130  # predict --csv interrupted by Ctrl+C: the CSV is valid, re-run to continue


class CliError(Exception):
    """A usage problem found after parsing; printed as `error: ...`, exit 2."""


# -- progress on stderr ---------------------------------------------------------------------------------


def _fmt_s(seconds: float | None) -> str:
    """ETA and wall time in progress lines: 00:42, 12:03, 1:02:03; --:-- when unknown."""
    return fmt_duration(seconds, unknown="--:--", pad_minutes=True)


def _pct(x: float | None) -> str:
    """A percentage in an aligned column: ` 88.8%`, `  n/a`."""
    return fmt_pct(x, unknown="  n/a", width=5)


class TrainProgress:
    """Turns engine events into a progress bar (TTY) or one line per epoch (logs)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar_open = False

    def _line(self, text: str) -> None:
        if self._bar_open:
            self.stream.write("\r\033[K")
            self._bar_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event) -> None:
        from resnet_gui.engine import events as ev

        if isinstance(event, ev.RunStarted):
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
            self._line(
                f"training {event.arch} on {event.device_name}: {len(event.classes)} classes, "
                f"{event.num_train} train / {event.num_val} val images at {event.img_size}px{resumed}"
            )
            self._line(f"checkpoints -> {event.out_dir}")
        elif isinstance(event, ev.StepDone) and self.tty:
            width = 24
            filled = int(width * event.step / max(1, event.steps))
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(
                f"\repoch {event.epoch}/{event.epochs} [{bar}] {event.step}/{event.steps} "
                f"loss {event.loss:.3f}  {event.img_per_s:6.1f} img/s  ETA {_fmt_s(event.eta_s)}\033[K"
            )
            self.stream.flush()
            self._bar_open = True
        elif isinstance(event, ev.EpochDone):
            val = (
                "" if event.val_acc is None else f"  val loss {event.val_loss:.3f} acc {_pct(event.val_acc)}"
            )
            star = "  *best" if event.is_best else ""
            self._line(
                f"epoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.3f} acc {_pct(event.train_acc)}"
                f"{val}  {event.img_per_s:.1f} img/s  {event.epoch_s:.1f}s  ETA {_fmt_s(event.eta_s)}{star}"
            )
        elif isinstance(event, ev.ImageSkipped):
            self._line(f"skipped {event.path}: {event.reason}")
        elif isinstance(event, ev.EvalDone):
            r = event.result
            self._line(
                f"best model on {r.num_images} val images: accuracy {_pct(r.accuracy).strip()}, "
                f"loss {r.loss:.3f}, {len(r.misclassified)} misclassified"
            )
        elif isinstance(event, ev.RunFinished):
            r = event.result
            how = "stopped" if r.stopped else "finished"
            best = "" if r.best_val_acc is None else f", best val acc {_pct(r.best_val_acc).strip()}"
            self._line(
                f"{how} after {r.epochs} epochs in {_fmt_s(r.wall_s)}{best}; best model: {r.checkpoint}"
            )
            if getattr(r, "stop_detail", ""):
                self._line(r.stop_detail)


def _emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
