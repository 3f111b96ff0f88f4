"""Int8 ONNX export (`export --format onnx --int8`) with onnxruntime's quantisation, and what it costs.

With a data folder, static quantisation (QDQ, per-channel weights) calibrated on a sample of its training
images, preprocessed exactly as for inference; without one, dynamic quantisation (int8 weights,
activations quantised on the fly). Either way the fp32 export is made first, then both models run on the
same sample (the data folder's validation images, else its training images, else random inputs) with
ONNX Runtime on the CPU: the report gives the two file sizes, the batch-1 latency of each and how often
their top-1 classes agree.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 64
SAMPLE_IMAGES = 100
LATENCY_RUNS = 20


@dataclass
class QuantReport:
    """What `export_int8` wrote and measured."""

    path: str
    mode: str  # "static" (calibrated on images) | "dynamic"
    calibration_images: int
    size_fp32: int
    size_int8: int
    latency_ms_fp32: float  # median of LATENCY_RUNS batch-1 runs, ONNX Runtime on the CPU
    latency_ms_int8: float
    agreement: float  # share of the sample where fp32 and int8 give the same top-1 class
    sample: int
    sample_kind: str  # "validation images" | "training images" | "random inputs"

    def to_json(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"int8 ({self.mode}"
            + (f", calibrated on {self.calibration_images} images" if self.mode == "static" else "")
            + ")",
            f"size     {self.size_fp32 / 1e6:7.1f} MB fp32 -> {self.size_int8 / 1e6:6.1f} MB int8 "
            f"({self.size_int8 / self.size_fp32:.0%})",
            f"latency  {self.latency_ms_fp32:7.2f} ms fp32 -> {self.latency_ms_int8:6.2f} ms int8 (batch 1, CPU)",
            f"top-1 agreement with fp32: {self.agreement:.1%} on {self.sample} {self.sample_kind}",
        ]


def _need_onnxruntime() -> None:
    for name in ("onnx", "onnxruntime"):
        if importlib.util.find_spec(name) is None:
            raise EngineError(
                f"int8 export needs the '{name}' package: pip install {name} (or resnet-gui[export])"
            )


def _image_batch(paths: list[str], img_size: int, mean, std) -> np.ndarray:
    from resnet_gui.engine.data.images import load_image
    from resnet_gui.engine.data.transforms import build_eval_transform

    tf = build_eval_transform(img_size, mean, std)
    out = []
    for p in paths:
        try:
            out.append(tf(load_image(p)).numpy())
        except Exception as exc:  # noqa: BLE001  (a bad file is skipped, as in training)
            log.warning("skipped %s: %s", p, exc)
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 3, img_size, img_size), np.float32)


def _pick(paths: list[str], n: int, seed: int = 0) -> list[str]:
    paths = list(paths)
    random.Random(seed).shuffle(paths)
    return paths[:n]


class _Calibration:
    """onnxruntime's CalibrationDataReader: one preprocessed image per call."""

    def __init__(self, batch: np.ndarray):
        self._items = iter([{"image": x[None]} for x in batch])

    def get_next(self):
        return next(self._items, None)


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _latencies_ms(sessions: list, x: np.ndarray, runs: int) -> list[float]:
    """Median batch-1 time of each session; the runs alternate, so a busy machine slows both alike."""
    for session in sessions:
        session.run(None, {"image": x})  # warm-up
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(runs):
        for session, out in zip(sessions, times, strict=True):
            t0 = time.perf_counter()
            session.run(None, {"image": x})
            out.append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


def export_int8(
    checkpoint: str | Path,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    calibration_images: int = CALIBRATION_IMAGES,
    sample_images: int = SAMPLE_IMAGES,
    latency_runs: int = LATENCY_RUNS,
    classes_file: str | Path | None = None,
) -> QuantReport:
    """Write an int8 ONNX model of `checkpoint` (default: beside it, `<stem>.int8.onnx`) and measure it
    against the fp32 export; see the module docstring."""
    _need_onnxruntime()
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from resnet_gui.engine.infer.export import export_model

    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint.with_name(checkpoint.name.split(".")[0] + ".int8.onnx")
    with tempfile.TemporaryDirectory(prefix="resnet-gui-int8-") as tmp:
        fp32 = export_model(checkpoint, "onnx", Path(tmp) / "fp32.onnx", classes_file=classes_file)
        meta = {p.key: p.value for p in onnx.load(str(fp32), load_external_data=False).metadata_props}
        img_size = int(meta["img_size"])
        mean = [float(v) for v in meta["mean"].split(",")]
        std = [float(v) for v in meta["std"].split(",")]
        calib = sample = None
        sample_kind = "random inputs"
        if data_dir is not None:
            from resnet_gui.engine.data.scan import scan_dataset

            index = scan_dataset(data_dir)
            train_paths = [s.path for s in index.train]
            calib = _image_batch(_pick(train_paths, calibration_images), img_size, mean, std)
            held = [s.path for s in index.val]
            sample_kind = "validation images" if held else "training images"
            sample = _image_batch(_pick(held or train_paths, sample_images, seed=1), img_size, mean, std)
            if len(calib) == 0:
                raise EngineError(f"none of the calibration images in {data_dir} could be read")
        if sample is None or len(sample) == 0:
            sample = np.random.default_rng(0).standard_normal((32, 3, img_size, img_size)).astype(np.float32)
            sample_kind = "random inputs"
        prepared = Path(tmp) / "prepared.onnx"
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        except Exception as exc:  # noqa: BLE001  (an optimisation only: quantise the plain export)
            log.info("quant_pre_process skipped: %s", exc)
            prepared = fp32
        q_path = Path(tmp) / "int8.onnx"
        if calib is not None:
            quantize_static(
                str(prepared),
                str(q_path),
                _Calibration(calib),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
            mode = "static"
        else:
            quantize_dynamic(str(prepared), str(q_path), weight_type=QuantType.QUInt8)
            mode = "dynamic"
        proto = onnx.load(str(q_path))
        del proto.metadata_props[:]
        for key, value in {**meta, "quantization": f"int8-{mode}"}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        atomic_write_bytes(out, proto.SerializeToString())
        s32, s8 = _session(fp32), _session(out)
        top32 = np.concatenate(
            [s32.run(None, {"image": sample[i : i + 16]})[0].argmax(1) for i in range(0, len(sample), 16)]
        )
        top8 = np.concatenate(
            [s8.run(None, {"image": sample[i : i + 16]})[0].argmax(1) for i in range(0, len(sample), 16)]
        )
        lat32, lat8 = _latencies_ms([s32, s8], sample[:1], latency_runs)
        report = QuantReport(
            path=str(out),
            mode=mode,
            calibration_images=0 if calib is None else len(calib),
            size_fp32=fp32.stat().st_size,
            size_int8=out.stat().st_size,
            latency_ms_fp32=lat32,
            latency_ms_int8=lat8,
            agreement=float((top32 == top8).mean()),
            sample=len(sample),
            sample_kind=sample_kind,
        )
    log.info("int8 export of %s: %s", checkpoint, report)
    return report
