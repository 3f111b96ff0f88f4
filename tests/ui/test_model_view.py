"""Model tab (layers, params, GFLOPs, shape summary) and File > Export Model…."""

from __future__ import annotations

import torch
import torchvision

from resnet_gui.ui.main_window import MODEL_TAB
from resnet_gui.ui.model.view import CHECKPOINT, TRAIN


def _table(view) -> list[list[str]]:
    m = view.table_model
    return [[m.index(r, c).data() for c in range(m.columnCount())] for r in range(m.rowCount())]


def _torchvision_params(arch: str, num_classes: int) -> int:
    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(num_classes=num_classes)
    return sum(p.numel() for p in model.parameters())


def test_model_tab_follows_the_train_tab_arch(qtbot, window):
    window.tabs.setCurrentIndex(MODEL_TAB)
    view, train = window.model_view, window.training_view
    qtbot.waitUntil(lambda: view.desc is not None and not view.is_busy(), timeout=30_000)
    with qtbot.waitSignal(
        view.described, timeout=30_000, check_params_cb=lambda d: d.arch == "resnet50"
    ) as got:
        train.form.arch.setCurrentIndex(train.form.arch.findData("resnet50"))
    desc = got.args[0]
    assert view.source.currentData() == TRAIN
    assert desc.params_total == _torchvision_params("resnet50", desc.num_classes)
    rows = _table(view)
    assert len(rows) == len(desc.layers) + 1
    assert rows[0][:3] == ["stem", "conv1", "Conv2d"]
    assert rows[4][:3] == ["stage 1", "layer1.0", "Bottleneck"]
    assert rows[-2][:2] == ["head", "fc"]
    assert rows[-1][0] == "Total" and rows[-1][4] == view.table_model.data(
        view.table_model.index(len(rows) - 1, 4)
    )
    summary = view.summary.text()
    assert "Bottleneck x [3, 4, 6, 3]" in summary and "GFLOPs" in summary
    assert f"{desc.macs_total / 1e9:.3g} GFLOPs" in summary

    # every leaf layer instead of whole blocks
    with qtbot.waitSignal(view.described, timeout=30_000) as got:
        view.leaves.setChecked(True)
    assert len(_table(view)) == len(got.args[0].layers) + 1 > len(rows)
    assert any(r[1] == "layer1.0.conv3" for r in _table(view))


def test_model_tab_shows_the_loaded_checkpoint_and_exports_it(qtbot, window, checkpoint, tmp_path):
    view = window.model_view
    assert not view.export_button.isEnabled()
    with qtbot.waitSignal(window.inference_view.checkpoint_loaded, timeout=60_000):
        window.open_checkpoint(str(checkpoint))
    assert view.desc is None  # nothing is measured while the tab is hidden
    with qtbot.waitSignal(
        view.described, timeout=60_000, check_params_cb=lambda d: d.num_classes == 4
    ) as got:
        window.tabs.setCurrentIndex(MODEL_TAB)
    desc = got.args[0]
    assert view.source.currentData() == CHECKPOINT and view.export_button.isEnabled()
    assert (desc.arch, desc.img_size) == ("resnet18", 32)
    assert desc.params_total == _torchvision_params("resnet18", 4)
    assert "BasicBlock x [2, 2, 2, 2]; feature maps 16-8-4-2-1 px" in view.summary.text()
    assert "resnet18 · 4 classes · 32 × 32 px" in view.title.text()

    # Export… opens the dialog for this checkpoint; the export runs off the GUI thread
    view.export_button.click()
    dialog = window._export_dialog
    assert dialog.isVisible() and dialog.checkpoint.text() == str(checkpoint)
    assert dialog.output.text() == str(checkpoint.with_name("best.onnx"))  # beside it, by default
    dialog.set_format("torchscript")
    assert dialog.output.text().endswith("best.torchscript.pt")
    out = tmp_path / "model.pt"
    dialog.output.setText(str(out))
    with qtbot.waitSignal(dialog.exported, timeout=60_000):
        dialog.export_button.click()
        assert dialog.is_running() and not dialog.export_button.isEnabled()
    assert out.is_file() and "Wrote" in dialog.status.text() and "MB" in dialog.status.text()
    from tests._fixtures import read_export_metadata

    assert read_export_metadata(out)["classes"].split("\n") == ["circle", "square", "star", "triangle"]
    qtbot.waitUntil(lambda: not dialog.is_running())
    dialog.close()


def test_export_dialog_reports_problems(qtbot, window, tmp_path):
    window.export_model()
    dialog = window._export_dialog
    assert not dialog.export_button.isEnabled()  # no checkpoint yet
    dialog.checkpoint.setText(str(tmp_path / "missing.safetensors"))
    dialog.start_export()
    assert "does not exist" in dialog.status.text() and not dialog.is_running()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    dialog.checkpoint.setText(str(bad))
    dialog.set_format("onnx")
    qtbot.waitUntil(lambda: not dialog.is_running())
    dialog.start_export()
    qtbot.waitUntil(lambda: "Export failed" in dialog.status.text(), timeout=30_000)
    qtbot.waitUntil(lambda: not dialog.is_running())
    assert not (tmp_path / "bad.onnx").exists()
    dialog.close()
