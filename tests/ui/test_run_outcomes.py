"""What the Train tab says when a run ends in a way that needs explaining: stopped before its first
epoch finished (nothing usable is offered), or a result at chance / a single class (said plainly).

The engine's events are fed to the view as the worker would deliver them: no training needed."""

from __future__ import annotations

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainResult
from resnet_gui.ui.main_window import TRAIN_TAB
from resnet_gui.ui.train import log_lines
from resnet_gui.ui.train.result_box import NOTHING_YET


def _result(tmp_path, history, stopped, best=None, evaluation=None) -> TrainResult:
    return TrainResult(
        checkpoint=str(tmp_path / "best.safetensors"),
        last_checkpoint=str(tmp_path / "last.safetensors"),
        arch="resnet18",
        classes=["a", "b", "c", "d", "e"],
        epochs=len(history),
        best_val_acc=best,
        val_acc=best,
        val_loss=None,
        train_loss=None,
        wall_s=3.0,
        train_img_per_s=50.0,
        device="cpu",
        device_name="CPU",
        img_size=32,
        stopped=stopped,
        history=history,
        evaluation=evaluation,
    )


def _play(view, tmp_path, result: TrainResult, epochs_done: int) -> None:
    (tmp_path / "best.safetensors").write_bytes(b"x")
    view._on_event(
        ev.RunStarted("resnet18", "cpu", "CPU", result.classes, 640, 160, 5, 0, 80, 32, str(tmp_path))
    )
    for k in range(1, epochs_done + 1):
        view._on_event(ev.EpochDone(k, 5, 1.6, 0.2, 1.6, 0.225, 1e-3, 1.0, 50.0, k == 1, 4.0))
    view._on_event(ev.CheckpointSaved(str(tmp_path / "best.safetensors"), "best", epochs_done, None))
    view._on_event(ev.RunFinished(result))
    view._on_finished()


def test_stop_before_the_first_epoch_offers_nothing_that_needs_a_model(qtbot, window, tmp_path):
    window.tabs.setCurrentIndex(TRAIN_TAB)
    view = window.training_view
    _play(view, tmp_path, _result(tmp_path, [], stopped=True), epochs_done=0)
    box = view.result_box
    assert box.title.text() == NOTHING_YET
    assert "no validation images" not in box.title.text().lower()
    assert box.use_button.isHidden() and not box.use_button.isEnabled()
    assert box.continue_button.isHidden()
    assert not box.folder_button.isHidden()  # the folder is kept and can be opened
    log = view.log.toPlainText()
    assert "epoch 0" not in log and "stopped during epoch 1" in log
    assert view.results.evaluate_button.isHidden()  # no "Evaluate the Best Model" for an untrained one


def test_a_run_at_chance_says_so_with_the_likely_causes(qtbot, window, tmp_path):
    window.tabs.setCurrentIndex(TRAIN_TAB)
    view = window.training_view
    hist = [{"epoch": k, "val_acc": 0.225} for k in (1, 2)]
    _play(view, tmp_path, _result(tmp_path, hist, stopped=False, best=0.225), epochs_done=2)
    box = view.result_box
    assert not box.warning.isHidden()
    assert "about what guessing gives" in box.warning.text() and "too few images" in box.warning.text()
    assert box.use_button.isEnabled()  # a poor model is still a model


def test_a_single_class_evaluation_is_called_out_in_both_places(qtbot, window, tmp_path):
    window.tabs.setCurrentIndex(TRAIN_TAB)
    view = window.training_view
    confusion = [[5, 0, 0, 0, 0], [4, 0, 0, 0, 0], [0] * 5, [0] * 5, [0] * 5]
    summary = {"confusion_matrix": confusion, "accuracy": 5 / 9}
    hist = [{"epoch": 1, "val_acc": 5 / 9}]
    _play(view, tmp_path, _result(tmp_path, hist, stopped=False, best=5 / 9, evaluation=summary), 1)
    assert "same class" in view.result_box.warning.text()


def test_the_first_epoch_save_reads_plainly():
    line = log_lines.saved(ev.CheckpointSaved("/x/best.safetensors", "best", 0, None))
    assert "epoch 0" not in line and "val acc --" not in line
    assert log_lines.saved(ev.CheckpointSaved("/x/best.safetensors", "best", 2, 0.5)).endswith("50.0%)")
