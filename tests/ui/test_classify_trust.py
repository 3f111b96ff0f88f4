"""Classify view: one number per image (panel, Grad-CAM caption, predict), "none of these" in its own
style, the strictness slider, a checkpoint without the fields, and a video file as a live source."""

from __future__ import annotations

import dataclasses
import glob
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_gui.format import fmt_pct
from resnet_gui.ui.main_window import CLASSIFY_TAB
from tests.ui.helpers import drop_paths


@pytest.fixture
def view(window):
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    return window.inference_view


def _load(qtbot, view, checkpoint) -> None:
    with qtbot.waitSignal(view.checkpoint_loaded, timeout=60_000):
        view.load_checkpoint(str(checkpoint))


@pytest.fixture
def big_jpeg(tmp_path) -> Path:
    """A camera-size JPEG: `predict` decodes it at reduced scale."""
    from resnet_gui.engine.data.demo import draw_shape

    path = tmp_path / "photo.jpg"
    draw_shape("star", 800, np.random.default_rng(5)).resize((800, 600)).save(path, quality=90)
    return path


def test_a_dropped_photo_its_gradcam_caption_and_predict_show_one_number(qtbot, view, checkpoint, big_jpeg):
    from resnet_gui.engine.infer.predict import Predictor

    _load(qtbot, view, checkpoint)
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        assert drop_paths(view, [big_jpeg])
    shown = view.selected_row().prediction
    cli = Predictor(checkpoint, device="cpu").predict_one(big_jpeg)  # what `resnet-gui predict` prints
    assert shown.label == cli.label and shown.confidence == pytest.approx(cli.confidence, abs=1e-6)
    assert view.results.data(view.results.index(0, 3)) == fmt_pct(cli.confidence)
    if not cli.unknown:  # an unknown answer's title is its verdict; the bars keep the numbers
        assert fmt_pct(cli.confidence) in view.detail.result_title.text()
    with qtbot.waitSignal(view.cam.overlay_ready, timeout=60_000):
        view.cam.checkbox.setChecked(True)
    assert f"({fmt_pct(cli.confidence)})" in view.cam.caption.text()
    # the Grad-CAM job's own number (not only the caption) is the same
    from resnet_gui.ui.jobs import compute_cam

    _img, info = compute_cam(view.predictor, view.pictures.get(str(big_jpeg)), 200)
    assert info["prob"] == pytest.approx(cli.confidence, abs=1e-5)
    # the picture shown is the file's, not the reduced decode the model read
    assert view.pictures.get(str(big_jpeg)).size == (800, 600)


def test_unknown_answers_have_their_own_words_and_the_slider_rejudges(qtbot, view, checkpoint, tiny_dataset):
    _load(qtbot, view, checkpoint)
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        drop_paths(view, sorted(tiny_dataset.glob("*/*.png"))[:3])
    trust = view.predictor.trust
    assert view.trust_bar.slider.isEnabled() and trust.score in view.trust_bar.note.text()
    trust.quantiles[trust.score] = [float("inf")] * len(trust.quantiles[trust.score])  # everything is odd
    view.trust_bar.slider.setValue(7)
    row = view.selected_row()
    closest = row.prediction.topk[0][0]
    assert row.prediction.unknown is True
    assert view.detail.unknown_label.isVisibleTo(view) and view.detail.unknown_label.text() == (
        f"Not like any of the classes it was trained on (closest: {closest})"
    )
    assert "border" in view.detail.unknown_label.styleSheet()
    assert view.results.data(view.results.index(0, 2)).startswith("unknown (closest: ")
    view.trust_bar.slider.setValue(0)  # off: no image is called unknown
    assert view.selected_row().prediction.unknown is None
    assert not view.detail.unknown_label.isVisibleTo(view)


def test_a_checkpoint_without_the_fields_says_unavailable(qtbot, view, checkpoint, tmp_path):
    from resnet_gui.engine.model.checkpoint import load_checkpoint

    weights, meta = load_checkpoint(checkpoint)
    raw = tmp_path / "plain.pt"
    torch.save(weights, raw)
    (tmp_path / "class_indices.json").write_text(json.dumps(meta.classes))
    _load(qtbot, view, raw)
    assert "unavailable" in view.trust_bar.note.text() and "uncalibrated" in view.trust_bar.note.text()
    assert not view.trust_bar.slider.isEnabled()


def test_a_video_file_plays_and_is_classified(qtbot, view, checkpoint, tmp_path):
    pytest.importorskip("cv2")
    from resnet_gui.engine.infer.video import write_test_video

    video = write_test_video(tmp_path / "clip.avi", frames=6, size=64, fps=30)
    _load(qtbot, view, checkpoint)
    with qtbot.waitSignal(view.video.ended, timeout=60_000) as done:
        assert drop_paths(view, [video])
    ended = done.args[0]
    assert ended.frames == 6 and ended.classified >= 1
    assert view.pages.currentWidget() is view.video
    assert "classifications/s" in view.video.status.text() and "latency" in view.video.status.text()
    out = view.video.save_snapshot(str(tmp_path / "snap.png"))
    assert out and Path(out).stat().st_size > 0
    view.video.close_source()
    assert view.pages.currentWidget() is not view.video


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="this machine has a camera")
def test_no_camera_is_said_plainly(qtbot, view, checkpoint):
    _load(qtbot, view, checkpoint)
    with qtbot.waitSignal(view.error, timeout=10_000) as err:
        view.open_camera()
    assert err.args[0].startswith("No camera")
    assert not view.video.active


def test_the_classify_note_says_calibrated_only_when_a_temperature_was_kept():
    from resnet_gui.engine.infer.trust import Trust
    from resnet_gui.ui.classify.trust import calibration_note

    kept = Trust(temperature=0.4, ece_before=0.12, ece_after=0.03)
    assert calibration_note(kept).startswith("probabilities calibrated (temperature 0.40")
    same = Trust(temperature=1.0, ece_before=0.071, ece_after=0.071)  # no temperature did better
    assert "calibrated (" not in calibration_note(same) and "calibration error 7.1%" in calibration_note(same)
    assert calibration_note(Trust(temperature=1.0)) == "probabilities uncalibrated"


def test_the_evaluation_summary_shows_the_calibration_error():
    from resnet_gui.ui.train.reliability import calibration_text

    assert calibration_text(None) == ""
    text = calibration_text({"temperature": 0.4, "ece_before": 0.12, "ece_after": 0.03})
    assert "calibration error 12.0% → 3.0%" in text and "temperature 0.40" in text


def test_the_evaluation_tab_opens_the_reliability_diagram(qtbot, checkpoint, demo_dir):
    from resnet_gui.engine.evaluate import evaluate_checkpoint
    from resnet_gui.ui.train.eval_results import EvalResultsPanel
    from resnet_gui.ui.train.reliability import diagram_points

    result = evaluate_checkpoint(checkpoint, demo_dir, device="cpu", workers=0)
    panel = EvalResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.reliability.isVisible()  # nothing evaluated yet
    panel.set_result(result)
    assert panel.reliability.isVisible()
    panel.reliability.click()
    dialog = panel.reliability.dialog
    assert dialog is not None and dialog.isVisible()
    for key, curve in dialog.curves.items():
        x, y = curve.getData()
        want_x, want_y, counts = diagram_points(result.calibration[key])
        assert list(x) == pytest.approx(want_x) and list(y) == pytest.approx(want_y)
        assert sum(counts) == result.num_images
    dialog.close()
    panel.set_result(dataclasses.replace(result, calibration=None))  # an uncalibrated model: no button
    assert not panel.reliability.isVisible()
    panel.shutdown()


def test_a_video_frame_goes_into_the_dataset_and_undo_takes_it_out(
    qtbot, window, view, checkpoint, tmp_path, tiny_dataset
):
    pytest.importorskip("cv2")
    import shutil

    from resnet_gui.engine.infer.video import write_test_video
    from tests.ui.helpers import open_dataset

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    before = sorted(p.relative_to(data) for p in data.rglob("*") if ".resnet-gui" not in p.parts)
    open_dataset(qtbot, window, data)
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    video = write_test_video(tmp_path / "clip.avi", frames=6, size=64, fps=30)
    _load(qtbot, view, checkpoint)
    with qtbot.waitSignal(view.video.ended, timeout=60_000):
        assert drop_paths(view, [video])
    assert view.video.add_button.isEnabled()
    view.video._fill_add_menu()
    assert [a.text() for a in view.video.add_button.menu().actions()] == view.feedback.dataset_classes()
    assert view.video.add_frame_to("circle") is not None
    added = [p for p in (data / "circle").glob("clip-frame*.png")]
    assert len(added) == 1 and added[0].stat().st_size > 0
    assert view.feedback.added_since_training() == 1
    view.feedback.fixes.undo()
    after = sorted(p.relative_to(data) for p in data.rglob("*") if ".resnet-gui" not in p.parts)
    assert after == before
    view.video.close_source()
