"""Run history: `<run folder>/run.json` beside the checkpoints, and the list of previous runs.

`RunRecorder` wraps a run's `on_event` sink and rewrites run.json (atomically) at each event that changes
it: the config at the start, a row per epoch, checkpoint paths, the end-of-run evaluation summary, the
final metrics and how the run ended. Because it is built from events only, `train()` needs no code of its
own for it. `list_runs(out_dir)` reads them back (folders from before run.json existed fall back to their
checkpoint's metadata header), newest first, for the app's "Compare with…" control and Runs list.

The runs folder itself is `config.default_runs_dir()` (one for the app and the CLI). Managing it:
`rename_run`, `trash_run` (moved to `<runs>/.trash/`, never deleted outright), `empty_trash`,
`disk_usage`; `run_summary` is one row of `resnet-gui runs --json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from resnet_gui.engine import events as ev
from resnet_gui.engine.errors import CheckpointError
from resnet_gui.engine.fileio import atomic_write_bytes, folder_locked
from resnet_gui.engine.model.weights import read_metadata

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
TRASH_DIR = ".trash"  # inside the runs folder; list_runs skips dot-folders
RUN_FORMAT = "resnet-gui-run"
RUN_FORMAT_VERSION = 1
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_s", "img_per_s")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunInfo:
    """One run as the history lists it."""

    path: str  # the run folder
    name: str
    status: str  # "running" | "finished" | "stopped" | "failed" | "interrupted" | "unknown" (no run.json)
    arch: str = ""
    data_dir: str = ""
    classes: list[str] = field(default_factory=list)
    started: str = ""
    updated: str = ""
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)  # TrainResult.to_json() without history and skipped list
    evaluation: dict | None = None  # EvalResult.summary() of the best model on the validation split
    checkpoint: str | None = None  # best model
    size_bytes: int = 0  # every file in the run folder

    @property
    def dataset(self) -> str:
        """The data set's folder name."""
        return Path(self.data_dir).name if self.data_dir else ""

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def best_val_acc(self) -> float | None:
        accs = [row["val_acc"] for row in self.history if row.get("val_acc") is not None]
        return max(accs) if accs else None

    def label(self) -> str:
        """One line for a menu: name, architecture, epochs, best validation accuracy, status."""
        parts = [self.name]
        if self.arch:
            parts.append(self.arch)
        parts.append(f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}")
        if self.best_val_acc is not None:
            parts.append(f"best val {100 * self.best_val_acc:.1f}%")
        if self.status not in ("finished", "unknown"):
            parts.append(self.status)
        return " · ".join(parts)


class RunRecorder:
    """An `on_event` sink that keeps `<run folder>/run.json` current, then passes each event on.

    Writing never fails the run: an OSError is logged and training goes on.
    """

    def __init__(self, config: dict, forward: Callable[[object], None] | None = None):
        self.forward = forward or (lambda _e: None)
        self.record: dict[str, Any] = {"config": dict(config)}
        self.run_dir: Path | None = None

    def __call__(self, event: object) -> None:
        try:
            if self._update(event) and self.run_dir is not None:
                self.write()
        except OSError as exc:
            log.warning("could not write %s: %s", RUN_FILE, exc)
        self.forward(event)

    def interrupted(self) -> None:
        """The run ended without RunFinished or RunFailed (a second Ctrl+C, SystemExit): say so in run.json.
        A run killed outright (kill -9) cannot say it; `load_run` finds it by its free folder lock."""
        if self.run_dir is None or self.record.get("status") != "running":
            return
        self.record["status"] = "interrupted"
        try:
            self.write()
        except OSError as exc:
            log.warning("could not write %s: %s", RUN_FILE, exc)

    def write(self) -> None:
        assert self.run_dir is not None
        self.record["updated"] = _now()
        data = json.dumps(self.record, indent=1, default=str).encode()
        atomic_write_bytes(self.run_dir / RUN_FILE, data)

    def _update(self, e: object) -> bool:
        """Fold one event into the record; True when it changed something worth writing."""
        r = self.record
        if isinstance(e, ev.RunStarted):
            self.run_dir = Path(e.out_dir)
            previous = _read_json(self.run_dir / RUN_FILE) if e.start_epoch > 0 else None
            if previous:  # a continued run: keep its start, config and the epochs already done
                r.update({k: v for k, v in previous.items() if k in ("started", "config", "checkpoints")})
                r["config"] = {**previous.get("config", {}), "epochs": e.epochs}
                r["history"] = [row for row in previous.get("history", []) if row["epoch"] <= e.start_epoch]
            else:
                r["started"] = _now()
                r["history"] = []
            r["config"] = {**r["config"], "arch": e.arch, "img_size": e.img_size}
            r.update(
                format=RUN_FORMAT,
                version=RUN_FORMAT_VERSION,
                name=self.run_dir.name,
                status="running",
                arch=e.arch,
                classes=list(e.classes),
                device_name=e.device_name,
                num_train=e.num_train,
                num_val=e.num_val,
                problems=list(getattr(e, "problems", []) or []),
                final={},
                evaluation=None,
            )
            r.setdefault("checkpoints", {})
            return True
        if isinstance(e, ev.EpochDone):
            row = {k: getattr(e, k) for k in HISTORY_KEYS}
            r["history"] = [h for h in r.get("history", []) if h["epoch"] < e.epoch] + [row]
            return True
        if isinstance(e, ev.CheckpointSaved):
            r.setdefault("checkpoints", {})[e.kind] = Path(e.path).name
            return True
        if isinstance(e, ev.EvalDone):
            r["evaluation"] = e.result.summary()
            return True
        if isinstance(e, ev.RunFinished):
            res = e.result.to_json()
            r["history"] = res.pop("history", r.get("history", []))
            res["skipped"] = len(res.get("skipped") or [])
            r["final"] = res
            r["status"] = "stopped" if res.get("stopped") else "finished"
            return True
        if isinstance(e, ev.RunFailed):
            r["status"] = "failed"
            r["error"] = e.error
            return True
        return False


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_run(path: str | Path) -> RunInfo | None:
    """A run from its folder, its run.json or one of its checkpoints; None if it is not a run."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    record = _read_json(folder / RUN_FILE)
    if record and record.get("format") == RUN_FORMAT:
        ckpts = record.get("checkpoints") or {}
        best = folder / ckpts["best"] if ckpts.get("best") else None
        status = record.get("status", "unknown")
        if status == "running" and not folder_locked(folder):  # its process is gone (kill -9, power cut)
            status = "interrupted"
        return _run_info(
            folder,
            record,
            name=record.get("name", folder.name),
            status=status,
            started=record.get("started", ""),
            updated=record.get("updated", ""),
            final=record.get("final") or {},
            evaluation=record.get("evaluation"),
            checkpoint=str(best) if best is not None and best.exists() else None,
        )
    # an older run (no run.json): what its checkpoint's header says
    candidates = [path] if path.is_file() else [folder / "best.safetensors", folder / "last.safetensors"]
    for ckpt in candidates:
        try:
            meta = read_metadata(ckpt) if ckpt.is_file() else None
        except CheckpointError:  # not one of ours, or damaged: not a run
            meta = None
        if meta and meta.get("history") is not None:
            created = meta.get("created", "")
            return _run_info(
                folder,
                meta,
                name=folder.name,
                status="unknown",
                started=created,
                updated=created,
                evaluation=(meta.get("metrics") or {}).get("eval"),
                checkpoint=str(ckpt),
            )
    return None


def _run_info(folder: Path, source: dict, **fields: object) -> RunInfo:
    """A RunInfo with what run.json and a checkpoint header both carry (arch, classes, config, history)."""
    config = source.get("config") or {}
    return RunInfo(
        path=str(folder),
        size_bytes=folder_size(folder),
        arch=source.get("arch", ""),
        data_dir=config.get("data_dir", ""),
        classes=list(source.get("classes") or []),
        config=config,
        history=list(source.get("history") or []),
        **fields,
    )


def list_runs(out_dir: str | Path, include_empty: bool = False) -> list[RunInfo]:
    """Runs in the immediate subfolders of `out_dir` that recorded at least one epoch (any run with
    `include_empty`), newest first."""
    root = Path(out_dir)
    if not root.is_dir():
        return []
    found: list[tuple[float, RunInfo]] = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        run = load_run(folder)
        if run is None or (not run.history and not include_empty):
            continue
        try:
            mtime = max(p.stat().st_mtime for p in folder.iterdir() if p.is_file())
        except (OSError, ValueError):
            mtime = 0.0
        found.append((mtime, run))
    found.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    return [run for _, run in found]


# --- the runs folder: sizes, rename, trash -----------------------------------------------------------


def folder_size(folder: str | Path) -> int:
    """Bytes of every file under `folder` (0 if it is gone)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed meanwhile
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def disk_usage(runs_dir: str | Path) -> dict[str, int]:
    """What the runs folder takes: `runs` (every run folder) and `trash` (`.trash/`), in bytes."""
    root = Path(runs_dir)
    trash = folder_size(root / TRASH_DIR)
    return {"runs": folder_size(root) - trash, "trash": trash}


def run_summary(run: RunInfo) -> dict:
    """One row of `resnet-gui runs --json` (and of the app's Runs list)."""
    return {
        "name": run.name,
        "path": run.path,
        "status": run.status,
        "started": run.started,
        "updated": run.updated,
        "dataset": run.dataset,
        "data_dir": run.data_dir,
        "arch": run.arch,
        "epochs": run.epochs,
        "best_val_acc": run.best_val_acc,
        "size_bytes": run.size_bytes,
        "checkpoint": run.checkpoint,
    }


_BAD_NAME = re.compile(r"[/\\\x00:*?\"<>|]")


def rename_run(path: str | Path, new_name: str) -> Path:
    """Rename a run's folder (and the name in its run.json); returns the new folder. CheckpointError when
    the name is unusable or taken."""
    folder = Path(path)
    new_name = new_name.strip()
    if not new_name or new_name.startswith(".") or _BAD_NAME.search(new_name):
        raise CheckpointError(f"{new_name!r} cannot be a run name (no slashes, not starting with a dot)")
    target = folder.with_name(new_name)
    if target == folder:
        return folder
    if target.exists():
        raise CheckpointError(f"a run named {new_name!r} already exists")
    try:
        folder.rename(target)
    except OSError as exc:
        raise CheckpointError(f"could not rename {folder.name}: {exc.strerror or exc}") from exc
    record = _read_json(target / RUN_FILE)
    if record is not None:
        record["name"] = new_name
        try:
            atomic_write_bytes(target / RUN_FILE, json.dumps(record, indent=1, default=str).encode())
        except OSError as exc:
            log.warning("renamed %s but could not update its %s: %s", target, RUN_FILE, exc)
    return target


def trash_run(path: str | Path) -> Path:
    """Move a run's folder into `.trash/` beside it (same file system: instant, undoable by hand)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a run folder")
    trash = folder.parent / TRASH_DIR
    target = trash / f"{folder.name}-{datetime.now():%Y%m%d-%H%M%S}"
    n = 1
    while target.exists():
        n += 1
        target = trash / f"{folder.name}-{datetime.now():%Y%m%d-%H%M%S}-{n}"
    try:
        trash.mkdir(exist_ok=True)
        folder.rename(target)
    except OSError as exc:
        raise CheckpointError(f"could not move {folder.name} to the trash: {exc.strerror or exc}") from exc
    return target


def empty_trash(runs_dir: str | Path) -> int:
    """Delete what is in `<runs>/.trash/` for good; returns the bytes freed."""
    trash = Path(runs_dir) / TRASH_DIR
    freed = folder_size(trash)
    shutil.rmtree(trash, ignore_errors=True)
    return freed
