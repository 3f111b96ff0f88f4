"""What every subcommand shares: exit codes, the usage error, progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from pathlib import Path

from resnet_gui.format import fmt_duration, fmt_pct

SUBCOMMANDS = ("gui", "demo-data", "train", "predict", "eval", "inspect", "export", "bench")
SUBCOMMANDS += ("doctor", "relabel", "remove", "keep", "undo", "redo")  # cli/doctor.py
SUBCOMMANDS += ("runs", "lr-find")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
#: Stopped by Ctrl+C or SIGTERM before the end (train: `stopped: true` in --json, checkpoints kept, resume
#: with --resume; predict --csv: the CSV is valid, re-run to continue). 128 + SIGINT, as shells report.
EXIT_STOPPED = 130


class CliError(Exception):
    """A usage problem found after parsing; printed as `error: ...`, exit 2."""


def term_safe(text: object, keep_newlines: bool = False) -> str:
    """`text` made harmless for a terminal: control and formatting characters (escape sequences, carriage
    returns, bidi overrides) written as visible escapes (`\\x1b`, `\\u202e`), since class names and file
    names can come from an untrusted checkpoint or folder. `keep_newlines`: a multi-line table."""
    out = []
    for ch in str(text):
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def check_input_file(path: str, what: str = "checkpoint") -> None:
    """A file argument that must exist as a regular file: say exactly what it is instead."""
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{what} {term_safe(path)} is a folder, not a file")
    if not p.exists():
        raise CliError(f"{what} {term_safe(path)} does not exist")
    if not p.is_file():
        raise CliError(f"{what} {term_safe(path)} is not a regular file")


def check_output_file(path: str | Path, option: str) -> None:
    """An output file the command will write at the end: checked (by creating and removing a probe file
    beside it) before any work, so no computed result is lost to a bad path."""
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise CliError(f"{option} {term_safe(path)} is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise CliError(f"{option} {term_safe(path)}: the folder {term_safe(parent)} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise CliError(f"{option} {term_safe(path)}: not writable")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".write-test.{os.getpid()}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CliError(f"{option} {term_safe(path)}: cannot write there ({exc.strerror or exc})") from None


# -- progress on stderr ---------------------------------------------------------------------------------


def _fmt_s(seconds: float | None) -> str:
    """ETA and wall time in progress lines: 00:42, 12:03, 1:02:03; --:-- when unknown."""
    return fmt_duration(seconds, unknown="--:--", pad_minutes=True)


def _pct(x: float | None) -> str:
    """A percentage in an aligned column: ` 88.8%`, `  n/a`."""
    return fmt_pct(x, unknown="  n/a", width=5)


#: Not a terminal (a log file, a pipe): a plain progress line at most this often within an epoch.
LOG_PROGRESS_EVERY_S = 10.0


def step_line(event) -> str:
    """A progress line within an epoch: step, loss, images/s and the run's ETA."""
    return (
        f"epoch {event.epoch}/{event.epochs} step {event.step}/{event.steps}  loss {event.loss:.3f}  "
        f"{event.img_per_s:.1f} img/s  ETA {_fmt_s(event.eta_s)}"
    )


class TrainProgress:
    """Turns engine events into a progress bar redrawn in place (TTY) or, in a log, one line per epoch
    plus a plain step line at most every `every_s` seconds (so a long first epoch is not silent)."""

    def __init__(self, stream=None, every_s: float = LOG_PROGRESS_EVERY_S, clock=None):
        import time

        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar_open = False
        self.every_s = every_s
        self._clock = clock or time.monotonic
        self._last_line = self._clock()

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
            self._line(f"checkpoints -> {term_safe(event.out_dir)}")
            for problem in getattr(event, "problems", None) or []:
                self._line(f"warning: {term_safe(problem)}")
            self._last_line = self._clock()
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
        elif isinstance(event, ev.StepDone):
            now = self._clock()
            if event.step < event.steps and now - self._last_line >= self.every_s:
                self._line(step_line(event))
                self._last_line = now
        elif isinstance(event, ev.EpochDone):
            self._last_line = self._clock()
            val = (
                "" if event.val_acc is None else f"  val loss {event.val_loss:.3f} acc {_pct(event.val_acc)}"
            )
            star = "  *best" if event.is_best else ""
            self._line(
                f"epoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.3f} acc {_pct(event.train_acc)}"
                f"{val}  {event.img_per_s:.1f} img/s  {event.epoch_s:.1f}s  ETA {_fmt_s(event.eta_s)}{star}"
            )
        elif isinstance(event, ev.ImageSkipped):
            self._line(f"skipped {term_safe(event.path)}: {term_safe(event.reason)}")
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
                f"{how} after {r.epochs} epochs in {_fmt_s(r.wall_s)}{best}; best model: {term_safe(r.checkpoint)}"
            )
            if getattr(r, "stop_detail", ""):
                self._line(r.stop_detail)


def _emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
