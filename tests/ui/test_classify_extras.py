"""Classify tab: the Grad-CAM toggle over the picture and the "Benchmark this model" panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_gui.ui.main_window import CLASSIFY_TAB
from tests.ui.helpers import drop_paths


def qimage_array(img) -> np.ndarray:
    from resnet_gui.ui.jobs import qimage_to_pil

    return np.asarray(qimage_to_pil(img))


@pytest.fixture
def view(qtbot, window, checkpoint):
    """The Classify tab with the shared checkpoint loaded."""
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    v = window.inference_view
    with qtbot.waitSignal(v.checkpoint_loaded, timeout=60_000):
        v.load_checkpoint(str(checkpoint))
    return v


def _classify(qtbot, view, paths: list[Path]) -> None:
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        drop_paths(view, paths)


def test_gradcam_toggle_overlays_the_selected_picture(qtbot, view, tiny_dataset):
    images = sorted(tiny_dataset.glob("*/*.png"))[:2]
    _classify(qtbot, view, images)
    shown = view.selected_row()
    plain = np.asarray(Image.open(shown.path).convert("RGB"))
    assert view.cam.checkbox.isEnabled() and not view.cam.checkbox.isChecked()

    with qtbot.waitSignal(view.cam.overlay_ready, timeout=30_000) as got:
        view.cam.checkbox.setChecked(True)
    overlay = qimage_array(got.args[0])
    assert overlay.shape == plain.shape  # at the picture's size
    assert not np.array_equal(overlay, plain)
    assert np.array_equal(qimage_array(view.detail.preview._image), overlay)  # what the picture shows now
    assert view.cam.caption.isVisible() and shown.prediction.topk[0][0] in view.cam.caption.text()

    # a late full-size preview of the same file does not replace the overlay
    qtbot.wait(300)
    assert np.array_equal(qimage_array(view.detail.preview._image), overlay)

    # another row: its own overlay, computed in the background
    other = next(
        r for r in range(view.proxy.rowCount()) if view.proxy.index(r, 0) != view.table.currentIndex()
    )
    with qtbot.waitSignal(view.cam.overlay_ready, timeout=30_000) as got2:
        view.table.selectRow(other)
    assert not np.array_equal(qimage_array(got2.args[0]), overlay)

    # off: the plain picture comes back
    view.cam.checkbox.setChecked(False)
    qtbot.waitUntil(
        lambda: (
            view.detail.preview._image is not None
            and not np.array_equal(qimage_array(view.detail.preview._image), qimage_array(got2.args[0]))
        )
    )
    assert not view.cam.caption.isVisible()


def test_gradcam_works_for_a_pasted_image(qtbot, view, tiny_dataset):
    from PySide6.QtGui import QGuiApplication, QImage

    QGuiApplication.clipboard().setImage(QImage(str(sorted(tiny_dataset.glob("*/*.png"))[0])))
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        view.paste()
    with qtbot.waitSignal(view.cam.overlay_ready, timeout=30_000) as got:
        view.cam.checkbox.setChecked(True)
    assert got.args[0].width() == 32


def test_benchmark_panel_fills_its_table(qtbot, view):
    assert not view.bench.isVisible()
    view.bench_button.click()
    assert view.bench.isVisible()
    view.bench.sizes.setText("1, 2")
    with qtbot.waitSignal(view.bench.bench_done, timeout=60_000) as done:
        view.bench.run_button.click()
        assert view.bench.cancel_button.isEnabled() and not view.bench.run_button.isEnabled()
    result = done.args[0]
    assert [r["batch_size"] for r in result["rows"]] == [1, 2]
    assert view.bench.table.rowCount() == 2
    assert view.bench.table.item(1, 1).text() == "2"
    assert float(view.bench.table.item(0, 2).text()) > 0
    assert view.bench.status.text().startswith("Done") and "img/s" in view.bench.status.text()
    qtbot.waitUntil(lambda: view.bench.run_button.isEnabled())


def test_benchmark_can_be_cancelled_and_checks_its_input(qtbot, view):
    view.bench_button.click()
    view.bench.sizes.setText("1,x")
    view.bench.run()
    assert "whole numbers" in view.bench.status.text() and not view.bench.is_running()
    view.bench.sizes.setText("1,2,4,8,16")
    with qtbot.waitSignal(view.bench.bench_done, timeout=60_000) as done:
        view.bench.run()
        view.bench.cancel()
    assert done.args[0]["stopped"] is True and len(done.args[0]["rows"]) < 5
    assert view.bench.status.text().startswith("Cancelled")
