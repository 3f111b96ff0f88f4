"""`export --format onnx --int8` (engine/infer/quantize.py): a smaller file that still runs, keeps the
metadata, and a report of size, latency and top-1 agreement with the fp32 export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resnet_gui.cli import main
from tests._fixtures import read_export_metadata

pytest.importorskip("onnxruntime")


def test_static_int8_calibrated_on_the_training_images(checkpoint, demo_dir, tmp_path):
    import onnxruntime as ort

    from resnet_gui.engine.infer.quantize import export_int8

    report = export_int8(
        checkpoint,
        tmp_path / "m.int8.onnx",
        data_dir=demo_dir,
        calibration_images=8,
        sample_images=8,
        latency_runs=2,
    )
    assert report.mode == "static" and report.calibration_images == 8
    assert report.sample == 8 and report.sample_kind == "validation images"
    assert report.size_int8 < 0.4 * report.size_fp32  # int8 weights: about a quarter
    assert 0.0 <= report.agreement <= 1.0 and report.latency_ms_int8 > 0 and report.latency_ms_fp32 > 0
    meta = read_export_metadata(report.path)
    assert meta["quantization"] == "int8-static" and meta["classes"].split("\n") == sorted(
        meta["classes"].split("\n")
    )
    session = ort.InferenceSession(report.path, providers=["CPUExecutionProvider"])
    size = int(meta["img_size"])
    logits = session.run(None, {"image": np.zeros((3, 3, size, size), np.float32)})[0]
    assert logits.shape == (3, int(meta["num_classes"]))  # the batch axis stays dynamic
    assert any("agreement" in line for line in report.lines())


def test_dynamic_int8_without_data_and_the_cli(checkpoint, tmp_path, capsys):
    out = tmp_path / "d.onnx"
    code = main(["export", str(checkpoint), "--format", "onnx", "--int8", "--out", str(out), "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0 and out.is_file()
    doc = json.loads(stdout)
    assert doc["mode"] == "dynamic" and doc["sample_kind"] == "random inputs" and doc["path"] == str(out)
    assert "top-1 agreement" in err and "MB" in err
    assert read_export_metadata(out)["quantization"] == "int8-dynamic"


def test_int8_needs_onnx(checkpoint, capsys):
    assert main(["export", str(checkpoint), "--format", "torchscript", "--int8"]) == 2
    assert "--int8 needs --format onnx" in capsys.readouterr().err
