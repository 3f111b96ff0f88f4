"""Every function the app runs off the GUI thread, in one place.

Plain functions: they take their inputs, call the engine and return plain data (dataclasses, dicts,
QImages, which are safe to build on any thread); none touches a widget. The views hand them to a
`Worker` or a `LatestJob` (ui/workers.py). A function that reports progress takes `on_event` and a
`stop` flag (`threading.Event`) as its last two arguments, as the engine's long calls do.

The engine is imported inside each function: the window shows before torch has loaded.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from resnet_gui.engine.config import ARCHS, DEFAULTS, DEVICES

if TYPE_CHECKING:
    from PIL import Image

    from resnet_gui.engine.config import TrainConfig, TrainResult
    from resnet_gui.engine.data.scan import DatasetIndex
    from resnet_gui.engine.evaluate import EvalResult
    from resnet_gui.engine.infer.predict import Prediction, Predictor
    from resnet_gui.engine.model.describe import ModelDescription
    from resnet_gui.engine.train.runtime import TrainingProcess

OnEvent = Callable[[object], None]
PASTED = "Pasted image"
GPU_COUNT_KEY = "cuda_count"  # probe_devices(): how many CUDA devices ("Use all N GPUs" when 2 or more)  # the name of a classified clipboard image


# --- images --------------------------------------------------------------------------------------------
def lower_thread_priority(niceness: int = 5) -> None:
    """Be nice to the GUI: on Linux niceness is per thread and inherited by the threads (torch's OpenMP
    team) and processes (DataLoader workers) this one starts, so the window stays smooth while they
    use every core. Elsewhere a no-op (macOS would renice the whole process)."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # not allowed here: run at normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def pil_to_qimage(img: Image.Image) -> QImage:
    """A PIL image (any mode) as an RGB QImage that owns its pixels; safe to build off the GUI thread."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    data = img.tobytes("raw", "RGB")
    qimg = QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888)
    return qimg.copy()


def qimage_to_pil(qimg: QImage) -> Image.Image:
    """A QImage (a pasted picture) as an RGB PIL image for the engine."""
    from PIL import Image

    img = qimg.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(img.constBits())
    return Image.frombuffer("RGB", (img.width(), img.height()), data, "raw", "RGB", img.bytesPerLine(), 1)


def fit(img: Image.Image, max_side: int, upscale: bool = False) -> Image.Image:
    """`img` shrunk to fit `max_side` (a new image; `img` is left as it is). `upscale`: small images are
    enlarged to fill it (thumbnail cells)."""
    from PIL import Image

    if upscale and max(img.size) < max_side:
        scale = max_side / max(img.size)
        return img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC
        )
    if max(img.size) <= max_side:
        return img
    out = img.copy()
    out.thumbnail((max_side, max_side))
    return out


def load_qimage(path: str, max_side: int, upscale: bool = False) -> tuple[QImage, dict]:
    """Decode `path` with the engine's one image loader, fit it in `max_side`, return (QImage, info)."""
    from resnet_gui.engine.data.images import load_image

    img = load_image(path)
    return pil_to_qimage(fit(img, max_side, upscale)), {"width": img.width, "height": img.height}


# --- the Dataset tab -----------------------------------------------------------------------------------
@dataclass
class ScanResult:
    """What the app shows about a dataset folder."""

    index: DatasetIndex
    entries: list[tuple[str, int, str]]  # (path, label, split), grouped by class
    auto_img_size: int | None
    scan_s: float
    val_split: float
    is_demo: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> images

    @property
    def root(self) -> str:
        return self.index.root


def scan_for_view(path: str | None, val_split: float = DEFAULTS.val_split) -> ScanResult:
    """Scan `path` (None: the built-in demo, created on first use)."""
    from resnet_gui.engine.data import (
        demo,  # torch-free: counts show before torch has loaded
        scan,
    )

    is_demo = path is None
    if path is None:
        path = str(demo.default_demo_dir())
    t0 = time.perf_counter()
    index = scan.scan_dataset(path, val_split=val_split)
    scan_s = time.perf_counter() - t0
    # grouped by class with a plain loop, not a sort: list.sort holds the GIL (and so stalls the GUI
    # thread) for the whole merge on 100k entries
    buckets: list[list[tuple[str, int, str]]] = [[] for _ in index.classes]
    for split, samples in (("train", index.train), ("val", index.val)):
        for s in samples:
            buckets[s.label].append((s.path, s.label, split))
    for bucket in buckets:
        bucket.sort()  # by path; one class at a time keeps each GIL hold short
    entries = [e for bucket in buckets for e in bucket]
    try:
        auto = scan.auto_img_size(index)
    except Exception:  # a guess for the form only; training decides for itself
        auto = None
    counts = {split: index.counts(split) for split in ("train", "val", "all")}
    return ScanResult(index, entries, auto, scan_s, val_split, is_demo, counts)


# --- the window ----------------------------------------------------------------------------------------
def probe_devices() -> dict[str, str | None]:
    """Readable names of the devices torch can use here ("auto" included); None where there is none;
    and under GPU_COUNT_KEY how many CUDA devices there are (a string: the dict holds text).

    Also where torch and the engine get imported while the window shows.
    """
    from resnet_gui.engine import device as dev
    from resnet_gui.engine.errors import EngineError

    names: dict[str, str | None] = {}
    for key in DEVICES:
        try:
            names[key] = dev.device_name(dev.resolve_device(key))
        except EngineError:
            names[key] = None
    from resnet_gui.engine.train.launch import cuda_device_count

    names[GPU_COUNT_KEY] = str(cuda_device_count())
    import resnet_gui.engine.infer.predict  # noqa: F401  (warm the imports the first click needs)
    import resnet_gui.engine.train.loop  # noqa: F401

    return names


# --- the Train tab -------------------------------------------------------------------------------------
def model_facts(on_event: OnEvent, stop: threading.Event) -> None:
    """Params/GFLOPs and ImageNet-weights availability per architecture, one event each (builds models)."""
    from resnet_gui.engine.model import build

    for arch in ARCHS:
        if stop.is_set():
            return
        facts: dict[str, Any] = {"arch": arch, "imagenet": build.imagenet_weights_available(arch)}
        facts["imagenet_file"] = str(build.imagenet_weights_file(arch))
        try:
            facts.update(build.arch_summary(arch))
        except Exception as exc:  # the form still works without the numbers
            facts["error"] = str(exc)
        on_event(facts)


#: Where the app trains. True: in a child process (engine/train/runtime.py), so a crash in native code,
#: the OOM killer or a Force stop ends only the child and the window lives on. False: the engine's train()
#: on the worker thread itself; tests that inject faults into the engine in this process set it.
RUN_IN_CHILD = True


def train_in_background(
    config: TrainConfig,
    on_event: OnEvent,
    stop: threading.Event,
    process: TrainingProcess | None = None,
    nproc: int = 1,
) -> TrainResult:
    """Train `config`, with train()'s shape: events arrive here in order, `stop` ends the run within one
    batch. In `process` (a TrainingProcess, perhaps launched ahead: ui/train/spare.py) or a fresh child;
    with `RUN_IN_CHILD` off, in this process at a lower CPU priority than the window (Linux).

    `nproc` > 1: N ranks (one per GPU) through PyTorch's elastic launcher, rank 0's events arrive here
    (a spare `process` is not used: the ranks are launched with their config).

    A child that died raises RunCrashed (`on_request` when it was killed after Stop) after a RunFailed
    event carrying its exit and last stderr lines; the checkpoints it saved stay on disk."""
    if process is None and not RUN_IN_CHILD:
        from resnet_gui.engine.train.loop import train

        lower_thread_priority()
        return train(config, on_event, stop)
    if process is not None and process.nproc != nproc:  # a one-process spare cannot run N ranks
        process.kill(reason="not needed: this run uses several processes")
        process = None
    if process is None:
        from resnet_gui.engine.train.runtime import TrainingProcess

        process = TrainingProcess(nproc=nproc)
    process.config, process.on_event = config, on_event
    return process.run(stop)


def evaluate_in_background(checkpoint: str, on_event: OnEvent, stop: threading.Event) -> EvalResult | None:
    """The engine's evaluation of `checkpoint` on its own run's val split."""
    from resnet_gui.engine.evaluate import evaluate_run_split

    lower_thread_priority()
    return evaluate_run_split(checkpoint, stop=stop)


# --- the Classify tab ----------------------------------------------------------------------------------
@dataclass
class Expanded:
    """How many images a classification batch holds, once its folders are expanded."""

    total: int


@dataclass
class Row:
    """One classified input: what the results table and the detail panel show."""

    name: str
    path: str | None  # None for a pasted image
    prediction: Prediction
    thumb: QImage | None
    image: QImage | None = None  # kept only for pasted images (no file to reload from)


@dataclass
class Picture:
    """A classified file: the image the model saw (the Predictor's decode, as `predict` reads it: a large
    JPEG at reduced scale; Grad-CAM explains it) and the screen-size picture it is shown and drawn on."""

    image: Image.Image  # RGB, EXIF orientation applied: `Predictor.decode(path)`
    preview: QImage  # fits the preview's side
    display: Image.Image | None = None  # the preview as PIL (Grad-CAM's canvas); None: `image`
    full_size: tuple[int, int] | None = None  # the file's own pixel size

    @property
    def size(self) -> tuple[int, int]:
        return self.full_size or self.image.size


@dataclass
class Classified:
    """One answer of a batch: the row, and the decoded picture (None for pasted or unreadable input)."""

    row: Row
    picture: Picture | None = None


def load_predictor(path: str) -> Predictor:
    """Load a checkpoint into a Predictor (reads the weights and warms up)."""
    from resnet_gui.engine.infer.predict import Predictor

    return Predictor(path, device="auto")


def classify_file(predictor: Predictor, path: str, topk: int, thumb: int, preview: int) -> Classified:
    """Decode `path` as the Predictor does (`predict`'s reduced JPEG decode: the same pixels, so the same
    answer as the CLI), classify that image and make its thumbnail and preview; a large JPEG decoded
    smaller than the preview is decoded again for the screen only. The model's decode counts in the
    prediction's `load` (and `total`) milliseconds."""
    from resnet_gui.engine.errors import ImageLoadError
    from resnet_gui.engine.infer.predict import Prediction

    name = Path(path).name
    t0 = time.perf_counter()
    try:
        image = predictor.decode(path)
    except ImageLoadError as exc:
        return Classified(Row(name, path, Prediction(path, error=exc.reason), None))
    decode_ms = (time.perf_counter() - t0) * 1000.0
    pred = predictor.predict_one(image, topk=topk)
    timing = dict(pred.timing_ms)
    if timing:
        timing["load"] += decode_ms
        timing["total"] += decode_ms
    pred = replace(pred, path=path, timing_ms=timing)
    display, full = _screen_picture(path, image, preview)
    shown = fit(display, preview)
    row = Row(name, path, pred, pil_to_qimage(fit(shown, thumb)))
    return Classified(row, Picture(image, pil_to_qimage(shown), shown, full))


def _screen_picture(path: str, image: Image.Image, preview: int) -> tuple[Image.Image, tuple[int, int]]:
    """(a picture of `path` for the screen, the file's pixel size): `image` itself unless the model's
    decode was reduced below the preview's size."""
    from resnet_gui.engine.data.images import image_info, load_image_reduced
    from resnet_gui.engine.errors import ImageLoadError

    try:
        info = image_info(path)
    except ImageLoadError:
        return image, image.size
    w, h = info["width"], info["height"]
    if (w > h) != (image.width > image.height):  # EXIF orientation turned the picture
        w, h = h, w
    if image.size == (w, h) or max(image.size) >= preview:
        return image, (w, h)
    try:
        return load_image_reduced(path, max(1, round(preview * min(w, h) / max(w, h)))), (w, h)
    except ImageLoadError:
        return image, (w, h)


def classify_items(
    predictor: Predictor,
    items: list[str | QImage],
    topk: int,
    thumb: int,
    preview: int,
    on_event: OnEvent,
    stop: threading.Event,
) -> int:
    """Classify files, folders (the images inside) and pasted QImages: `Expanded` first, then one
    `Classified` per image; stops between images. Returns how many were classified."""
    from resnet_gui.engine.infer.predict import Prediction, expand_inputs

    sources: list[str | QImage] = []
    for item in items:
        if isinstance(item, QImage):
            sources.append(item)
        elif Path(item).is_dir():
            found = expand_inputs([item])
            if not found:
                error = Prediction(str(item), error="no images in this folder")
                on_event(Classified(Row(Path(item).name, str(item), error, None)))
            sources.extend(str(p) for p in found)
        else:
            sources.append(str(item))
    on_event(Expanded(len(sources)))
    done = 0
    for src in sources:
        if stop.is_set():
            break
        if isinstance(src, QImage):
            pred = predictor.predict_one(qimage_to_pil(src), topk=topk)
            small = src.scaled(thumb, thumb, Qt.AspectRatioMode.KeepAspectRatio)
            on_event(Classified(Row(PASTED, None, pred, small, src)))
        else:
            on_event(classify_file(predictor, src, topk, thumb, preview))
        done += 1
    return done


def compute_cam(
    predictor: Predictor, source: Picture | Image.Image | QImage | str, max_side: int
) -> tuple[QImage, dict[str, Any]]:
    """Grad-CAM overlay (fits `max_side`) of a decoded picture, a pasted QImage or a file, and what it shows."""
    from resnet_gui.engine.infer.gradcam import explain

    canvas = None
    if isinstance(source, Picture):  # the model's decode, drawn on the screen-size picture
        source, canvas = source.image, source.display
    if isinstance(source, QImage):
        source = qimage_to_pil(source)
    r = explain(predictor, source, max_side=max_side, canvas=canvas)
    info = {"class": r.class_name, "prob": r.prob, "layer": r.layer, "cam_size": r.cam_size}
    return pil_to_qimage(r.overlay), info


@dataclass
class LiveFrame:
    """A video or camera frame for the preview, already a screen-size QImage."""

    index: int
    image: QImage
    source_fps: float


def classify_live(
    predictor: Predictor,
    source: int | str,
    topk: int,
    preview: int,
    paused: threading.Event,
    on_event: OnEvent,
    stop: threading.Event,
) -> object:
    """Camera index or video file, classified live (engine/infer/video.py: the newest frame wins):
    `LiveFrame` per frame read, the engine's `FrameAnswer` per classified frame, then its `LiveEnded`."""
    from resnet_gui.engine.infer.video import FramePreview, run_live

    lower_thread_priority()
    predictor.warm_up()  # this thread's first forward costs what the rest do

    def forward(e: object) -> None:
        if isinstance(e, FramePreview):
            on_event(LiveFrame(e.index, pil_to_qimage(fit(e.image, preview)), e.source_fps))
        else:
            on_event(e)

    return run_live(source, lambda img: predictor.predict_one(img, topk=topk), forward, stop, paused=paused)


def run_bench(checkpoint: str, batch_sizes: list[int], on_event: OnEvent, stop: threading.Event) -> dict:
    """The engine's forward-pass benchmark of a checkpoint (its own copy of the model), ~3 s a size."""
    from resnet_gui.engine.infer.bench import bench_checkpoint

    return bench_checkpoint(
        checkpoint, batch_sizes=batch_sizes, device="auto", budget_s=3.0, on_event=on_event, stop=stop
    )


# --- the Model tab and File > Export -------------------------------------------------------------------
def describe(
    model: str, leaves: bool, num_classes: int | None = None, img_size: int | None = None
) -> ModelDescription:
    """describe_model of an architecture (with a class count and image size) or a checkpoint file."""
    from resnet_gui.engine.model.describe import describe_model

    return describe_model(model, num_classes=num_classes, img_size=img_size, leaves=leaves)


def run_export(checkpoint: str, fmt: str, out: str) -> tuple[str, int]:
    """Export a checkpoint as ONNX or TorchScript; (path written, its size in bytes)."""
    from resnet_gui.engine.infer.export import export_model

    path = export_model(checkpoint, fmt, out)
    return str(path), path.stat().st_size
