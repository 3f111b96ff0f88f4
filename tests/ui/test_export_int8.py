"""File > Export Model… with int8 (ui/model/export_dialog.py): calibrated on the run's data by default,
the report (size, latency, top-1 agreement) in the dialog."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")


def test_int8_export_in_the_dialog(qtbot, window, checkpoint, demo_dir, tmp_path, monkeypatch):
    from resnet_gui.engine.infer import quantize

    monkeypatch.setattr(quantize, "LATENCY_RUNS", 2)
    window.export_model(str(checkpoint))
    dialog = window._export_dialog
    assert not dialog.calibration.isEnabled() or not dialog._calibration_row.isEnabled()  # int8 off
    dialog.set_format("torchscript")
    assert not dialog.int8.isEnabled()  # ONNX only
    dialog.set_format("onnx")
    dialog.int8.setChecked(True)
    assert dialog._calibration_row.isEnabled()
    assert dialog.output.text() == str(Path(checkpoint).with_name("best.int8.onnx"))
    assert dialog.calibration.text() == str(demo_dir)  # the folder the run trained on (its run.json)
    out = tmp_path / "q.onnx"
    dialog.output.setText(str(out))
    with qtbot.waitSignal(dialog.exported, timeout=120_000):
        dialog.export_button.click()
    qtbot.waitUntil(lambda: not dialog.is_running())
    assert out.is_file() and dialog.report.mode == "static"
    text = dialog.status.text()
    assert "int8 (static" in text and "latency" in text and "top-1 agreement" in text
    dialog.close()
