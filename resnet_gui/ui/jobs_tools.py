"""The app's off-GUI-thread functions for its tools: weights downloads and imports, the dataset check, the
Runs tab, the learning-rate finder and int8 export. Same rules as ui/jobs.py (plain functions, the engine
imported inside each, `on_event` and `stop` last)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_gui.engine.config import ARCHS
from resnet_gui.ui.jobs import OnEvent, lower_thread_priority

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainConfig


# --- weights: downloads, imports and checks (the Train form's weights panel, Classify's ImageNet menu) ---
def imagenet_facts(probe: bool = False) -> dict[str, Any]:
    """Per architecture: is torchvision's ImageNet file on disk, which one would download, how big; the
    cache folder; with `probe`, why the download server cannot be reached (None: it can)."""
    from resnet_gui.engine.model import hub

    archs = {}
    for arch in ARCHS:
        source, cached = hub.imagenet_source(arch), hub.cached_imagenet(arch)
        archs[arch] = {"cached": str(cached) if cached else "", "url": source.url, "file": source.filename}
        archs[arch]["mb"] = source.size_mb
    unreachable = hub.probe(hub.imagenet_source(ARCHS[0]).url) if probe else None
    return {"archs": archs, "folder": str(hub.cache_dir()), "unreachable": unreachable}


def download_imagenet(arch: str, on_event: OnEvent, stop: threading.Event) -> str:
    """torchvision's ImageNet weights for `arch` into the cache (DownloadProgress events); their path."""
    from resnet_gui.engine.model import hub

    return str(hub.ensure_imagenet(arch, on_event=on_event, stop=stop))


def check_weights(path: str, arch: str) -> str:
    """The architecture of a weights file; CheckpointError when it is not `arch` (read, never run)."""
    from resnet_gui.engine.model import hub

    return hub.check_weights_file(path, arch)


def import_weights(path: str, arch: str) -> str:
    """Copy a user's copy of torchvision's ImageNet file for `arch` into the cache; where it went."""
    from resnet_gui.engine.model import hub

    return str(hub.import_weights_file(path, arch))


# --- the dataset check (Dataset tab) ---------------------------------------------------------------------
def check_dataset_job(
    root: str, val_split: float, checkpoint: str | None, on_event: OnEvent, stop: threading.Event
):
    """`resnet-gui doctor` for the app: DoctorProgress events, `stop` honoured between images and folds."""
    from resnet_gui.engine.data.doctor.report import check_dataset

    lower_thread_priority()
    return check_dataset(root, checkpoint, val_split=val_split, on_event=on_event, stop=stop)


@dataclass
class RunsListing:
    """What the Runs tab shows: every run in the folder (newest first) and the bytes it all takes."""

    runs_dir: str
    runs: list  # engine.runs.RunInfo
    usage: dict[str, int]


def list_runs_for_view(runs_dir: str) -> RunsListing:
    """Read every run.json and add up the folder sizes (a few ms per run: off the GUI thread)."""
    from resnet_gui.engine.runs import disk_usage, list_runs

    root = Path(runs_dir)
    runs = list_runs(root, include_empty=True)
    return RunsListing(str(root), runs, disk_usage(root) if root.is_dir() else {"runs": 0, "trash": 0})


def empty_runs_trash(runs_dir: str) -> int:
    """Delete the runs folder's trash for good (may be gigabytes: off the GUI thread); bytes freed."""
    from resnet_gui.engine.runs import empty_trash

    return empty_trash(runs_dir)


def find_lr(config: TrainConfig, on_event: OnEvent, stop: threading.Event) -> object:
    """The learning-rate sweep (engine/train/lr_find.py) for the Train form's settings; LrFindResult."""
    from resnet_gui.engine.train.lr_find import lr_find

    return lr_find(config, on_event=on_event, stop=stop)


def run_export_int8(checkpoint: str, out: str, data_dir: str | None) -> object:
    """Int8 ONNX export (calibrated on `data_dir` when given) and its report (engine/infer/quantize.py)."""
    from resnet_gui.engine.infer.quantize import export_int8

    return export_int8(checkpoint, out, data_dir=data_dir or None)
