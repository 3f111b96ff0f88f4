"""Inference: `Predictor(checkpoint).predict(paths)` with the checkpoint's own eval preprocessing.

Timing per image is split into load (read + decode), preprocess (resize/crop/normalise + copy to the
device) and forward. On CUDA the forward pass is timed with CUDA events after a warm-up, since timing an
asynchronous kernel launch with a wall clock measures nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from PIL import Image

from resnet_gui.engine.data.images import is_image_file, load_image, load_image_reduced
from resnet_gui.engine.data.scan import IGNORED_DIRS
from resnet_gui.engine.data.transforms import build_eval_transform, eval_resize_size
from resnet_gui.engine.device import (
    CpuMeter,
    device_name,
    infer_threads,
    inference_plan,
    resolve_device,
    restored_threads,
    synchronize,
    timed_forward,
)
from resnet_gui.engine.errors import ImageLoadError
from resnet_gui.engine.infer.trust import Answer, Trust, forward_features
from resnet_gui.engine.model.checkpoint import CheckpointMeta, load_model

log = logging.getLogger(__name__)

ImageSource = str | Path | Image.Image


@dataclass
class Prediction:
    """Top-k classes with probabilities for one input, or the reason it failed."""

    path: str
    topk: list[tuple[str, float]] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    unknown: bool | None = None  # "none of these": None when the checkpoint has no open-set threshold
    ood_score: float | None = None  # the open-set score (higher: more like the training classes)

    @property
    def label(self) -> str | None:
        return self.topk[0][0] if self.topk else None

    @property
    def confidence(self) -> float | None:
        return self.topk[0][1] if self.topk else None

    def to_json(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        d = asdict(self)
        d.pop("error")
        d["topk"] = [{"class": c, "prob": p} for c, p in self.topk]
        return {k: d[k] for k in ("path", "topk", "unknown", "ood_score", "timing_ms")}


CSV_HEADER = (
    *("path", "class", "prob", "topk", "load_ms", "preprocess_ms", "forward_ms", "total_ms", "error"),
    *("unknown", "ood_score"),  # "none of these" (engine/infer/trust.py): empty when unavailable
)


def write_predictions_csv(predictions: Iterable[Prediction], path: str | Path) -> None:
    """One row per input: best class and probability, top-k as class:prob pairs, timings in ms, error."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for p in predictions:
            w.writerow(prediction_csv_row(p))


def prediction_csv_row(p: Prediction) -> list[str]:
    """One CSV row for a prediction, in `CSV_HEADER` order: best class, its probability, top-k as
    `class:prob` pairs joined by `;`, timings in ms, error. The one row format (also batch.py's)."""
    t = p.timing_ms or {}
    return [
        csv_cell(p.path),
        csv_cell(p.label or ""),
        f"{p.confidence:.6f}" if p.topk else "",
        csv_cell(";".join(f"{c}:{v:.6f}" for c, v in p.topk)),
        *(f"{t[k]:.3f}" if k in t else "" for k in ("load", "preprocess", "forward", "total")),
        csv_cell(p.error or ""),
        "" if p.unknown is None else str(p.unknown).lower(),
        "" if p.ood_score is None else f"{p.ood_score:.6f}",
    ]


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading `'` (OWASP), since
    class names come from the checkpoint and paths from the folder. `csv_value` undoes it."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_value(cell: str) -> str:
    """The text `csv_cell` was given."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files stay as given; a folder expands to the image files inside it (recursive, sorted, no hidden)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in IGNORED_DIRS)
                found.extend(Path(root) / f for f in files if is_image_file(f))
            out.extend(sorted(found))
        else:
            out.append(p)
    return out


def decode_for(img_size: int, path: str | Path) -> Image.Image:
    """Decode `path` for a model of `img_size` px exactly as `Predictor.predict` does."""
    return load_image_reduced(path, eval_resize_size(img_size))


class Predictor:
    """Loads a checkpoint once and classifies images with exactly its eval preprocessing."""

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "auto",
        classes_file: str | Path | None = None,
        warmup: bool = True,
        amp: bool = False,
    ):
        """`amp=True`: bf16 autocast where the CPU has native bf16 (x1.6-1.9 faster batch-1 forward on
        AVX512-BF16, measured), at the cost of probabilities that differ from the fp32 eval pass (by up to
        1e-3 on the benchmark's photos); off by default, so `predict` and `eval` agree exactly."""
        self.checkpoint = str(checkpoint)
        self.device = resolve_device(device)
        self.device_name = device_name(self.device)
        self.model, self.meta = load_model(checkpoint, device=self.device, classes_file=classes_file)
        self.meta: CheckpointMeta
        self.classes: list[str] = list(self.meta.classes)
        self.transform = build_eval_transform(self.meta.img_size, self.meta.mean, self.meta.std)
        self.plan = inference_plan(self.device, amp=amp)
        if self.plan.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._cpu = CpuMeter()  # cores other processes keep busy: batch-1 inference leaves them alone
        # calibration + open-set (infer/trust.py); unavailable: T = 1, no rejection
        self.trust = Trust.from_meta(self.meta.trust)
        if not self.trust.fits(len(self.classes), getattr(getattr(self.model, "fc", None), "in_features", 0)):
            log.warning("%s: its open-set data does not fit the model; rejection is off", self.checkpoint)
            self.trust = replace(self.trust, score=None, centroids=None)
        self.rate: float | None = None  # strictness: share of correct val images rejected (None: stored)
        self.tta = False  # test-time augmentation: average with the mirrored image
        if warmup:
            self._warmup()

    def _warmup(self, runs: int = 2) -> None:
        """Run the whole prediction path (threads, transform, forward, answer) on a blank image, so the
        first real image is as fast as the rest. Call it on the thread that will predict (ui/jobs.py)."""
        side = eval_resize_size(self.meta.img_size)
        blank = Image.new("RGB", (side, side))
        for fmt in ("PNG", "JPEG"):  # the decoders' first use (plugin imports, zlib/libjpeg set-up): ~6-12 ms
            buf = io.BytesIO()
            blank.save(buf, fmt)
            with contextlib.suppress(ImageLoadError):
                load_image_reduced(buf.getvalue(), side)
        with restored_threads():
            for _ in range(runs):
                self._predict(blank, 1)
        synchronize(self.device)

    def warm_up(self) -> None:
        """`_warmup` again, e.g. on the worker thread that will classify (a new thread's first torch
        call pays for its own thread team)."""
        self._warmup(1)

    def outputs(self, x: torch.Tensor, tta: bool | None = None) -> Answer:
        """The one model call behind every answer: logits (and features when the open-set score needs
        them) of a preprocessed batch, mirrored and averaged with `tta`, through `Trust.answer`."""
        tta = self.tta if tta is None else tta
        with torch.inference_mode(), self.plan.autocast(self.device):
            logits, feats = self._forward(x, tta)
        return self.trust.answer(logits.float(), None if feats is None else feats.float(), self.rate)

    def _forward(self, x: torch.Tensor, tta: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.trust.needs_features or tta:
            logits, feats = forward_features(self.model, x, tta=tta)
            return logits, feats
        return self.model(x), None

    def predict_one(self, source: ImageSource, topk: int = 5) -> Prediction:
        """Classify one image (path or PIL image). Bad input gives a Prediction with `error`, never raises."""
        return self.predict([source], topk=topk)[0]

    def predict(self, inputs: Sequence[ImageSource], topk: int = 5) -> list[Prediction]:
        """Classify each input in order; failures are reported per item.

        Each image runs on the cores other processes leave free (`free_cores`, re-read per image); torch's
        thread count is back to the caller's afterwards, since the app trains in this same process.
        """
        with restored_threads():
            return [self._predict(src, topk) for src in inputs]

    def _predict(self, source: ImageSource, topk: int) -> Prediction:
        if isinstance(source, Image.Image):
            name = getattr(source, "filename", None) or "<image>"
        else:
            name = str(source)
        self._use_free_cores()
        t0 = time.perf_counter()
        try:
            img = load_image(source) if isinstance(source, Image.Image) else self.decode(source)
        except ImageLoadError as exc:
            return Prediction(path=name, error=exc.reason)
        t1 = time.perf_counter()
        x = self.plan.to_device(self.transform(img).unsqueeze(0), self.device)
        synchronize(self.device)
        t2 = time.perf_counter()
        answer, forward_ms = timed_forward(self.outputs, x, self.plan.timer)
        probs = answer.probs[0]
        k = max(1, min(topk, len(self.classes)))
        values, indices = probs.topk(k)
        top = [(self.classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
        t3 = time.perf_counter()
        timing = {
            "load": (t1 - t0) * 1000.0,
            "preprocess": (t2 - t1) * 1000.0,
            "forward": forward_ms,
            "total": (t3 - t0) * 1000.0,
        }
        return Prediction(
            path=name,
            topk=top,
            timing_ms=timing,
            unknown=answer.unknown[0] if answer.unknown is not None else None,
            ood_score=float(answer.scores[0]) if answer.scores is not None else None,
        )

    def decode(self, path: str | Path) -> Image.Image:
        """The image at `path` as this Predictor reads it: a camera-size JPEG decodes at reduced scale
        (the eval resize needs far fewer pixels). Picklable work for DataLoader workers: see `decode_for`."""
        return decode_for(self.meta.img_size, path)

    def free_cores(self) -> int:
        """Intra-op threads for the next image: on the CPU only the cores other processes leave free
        (engine/device.py: CpuMeter, infer_threads); elsewhere torch's current count."""
        if self.plan.max_threads <= 0:
            return torch.get_num_threads()
        return infer_threads(self.plan.max_threads, self._cpu.others())

    def _use_free_cores(self) -> None:
        """Set `free_cores()`; callers run inside `restored_threads()`. The count changes only when the
        choice does: growing a thread team costs ~40 ms on the next torch call (measured)."""
        want = self.free_cores()
        if want != torch.get_num_threads():
            torch.set_num_threads(want)

    def info(self) -> dict:
        """What the app shows about the loaded model."""
        m = self.meta
        return {
            "checkpoint": self.checkpoint,
            "arch": m.arch,
            "classes": self.classes,
            "img_size": m.img_size,
            "val_acc": (m.metrics or {}).get("best_val_acc"),
            "created": m.created,
            "device": str(self.device),
            "device_name": self.device_name,
            "temperature": self.trust.temperature if self.trust.calibrated else None,
            "openset": self.trust.score if self.trust.available else None,
        }
