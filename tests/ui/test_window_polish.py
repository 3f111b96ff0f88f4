"""What a person meets around the views: Help, Ctrl+O from any tab, the Recent menu, the first launch,
what is remembered (last folder, Grad-CAM), which model Export offers, and a note when the Train tab's
curves are from another folder."""

from __future__ import annotations

import dataclasses
import types

from PySide6.QtWidgets import QStyle

from resnet_gui.engine.config import TrainConfig
from resnet_gui.ui import common
from resnet_gui.ui.main_window import CLASSIFY_TAB, DATASET_TAB, MainWindow
from tests.ui.helpers import open_dataset


def _action(window, text: str):
    for menu_action in window.menuBar().actions():
        for a in menu_action.menu().actions():
            if a.text().replace("&", "").rstrip("…") == text:
                return a
    raise AssertionError(f"no action {text!r}")


def test_help_has_getting_started_shortcuts_and_docs(qtbot, window):
    _action(window, "Getting Started").trigger()
    dialog = window._help
    assert dialog.isVisible() and dialog.tabs.currentIndex() == 0
    assert "Start training" in dialog.page_text(0) and "one subfolder per class" in dialog.page_text(0)
    _action(window, "Keyboard Shortcuts").trigger()
    shortcuts = dialog.page_text(1)
    assert dialog.tabs.currentIndex() == 1
    for keys, what in (("Ctrl+O", "Open Dataset Folder"), ("Ctrl+2", "Train"), ("Ctrl+Return", "start")):
        assert keys in shortcuts and what in shortcuts
    _action(window, "Documentation").trigger()
    assert "README" in dialog.page_text(2) and "--help" in dialog.page_text(2)
    dialog.close()


def test_ctrl_o_from_classify_switches_to_the_dataset_tab(qtbot, window, monkeypatch):
    asked = []
    monkeypatch.setattr(
        window.dataset_view, "choose_folder", lambda: asked.append(window.tabs.currentIndex())
    )
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    action = _action(window, "Open Dataset Folder")
    assert action.shortcut().toString() == "Ctrl+O"
    action.trigger()
    assert window.tabs.currentIndex() == DATASET_TAB and asked == [DATASET_TAB]


def test_recent_items_have_icons_not_emoji(qtbot, window, tiny_dataset, checkpoint):
    s = common.settings()
    s.setValue("recent/folders", [str(tiny_dataset)])
    s.setValue("recent/checkpoints", [str(checkpoint)])
    window._fill_recent()
    items = [
        a
        for a in window.recent_menu.actions()
        if str(tiny_dataset) in a.text() or str(checkpoint) in a.text()
    ]
    assert len(items) == 2
    for a in items:
        assert a.text() in (str(tiny_dataset), str(checkpoint))  # the path alone: no glyph that may be a box
        assert not a.icon().isNull()
    assert window.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon).cacheKey() is not None


def test_first_launch_points_at_train_and_the_last_folder_reopens(qtbot, tmp_path, tiny_dataset):
    first = MainWindow(runs_dir=tmp_path)
    qtbot.addWidget(first)
    with qtbot.waitSignal(first.dataset_view.dataset_loaded, timeout=30_000):
        first.start(str(tiny_dataset))
    assert first.message.isVisibleTo(first) and "Train" in first.message.text()
    first.inference_view.cam.checkbox.setChecked(True)
    first.close()

    second = MainWindow(runs_dir=tmp_path)  # a plain launch: no folder given
    qtbot.addWidget(second)
    with qtbot.waitSignal(second.dataset_view.dataset_loaded, timeout=30_000):
        second.start()
    assert second.dataset_view.result.root == str(tiny_dataset)  # not the demo
    assert not second.message.isVisibleTo(second)  # the welcome is for the first launch only
    assert second.inference_view.cam.checkbox.isChecked()  # Grad-CAM remembered
    second.close()


def test_export_offers_the_run_just_trained(qtbot, window, tmp_path, checkpoint):
    with qtbot.waitSignal(window.inference_view.checkpoint_loaded, timeout=60_000):
        window.open_checkpoint(str(checkpoint))
    trained = tmp_path / "run" / "best.safetensors"
    window.training_view.result_box.usable = True
    window.training_view.run_finished.emit(types.SimpleNamespace(checkpoint=str(trained)))
    window.export_model()
    assert window._export_dialog.checkpoint.text() == str(trained)
    window._export_dialog.close()


def test_opening_another_folder_says_the_curves_are_from_the_last_run(qtbot, window, tiny_dataset, tmp_path):
    other = tmp_path / "other"
    import shutil

    shutil.copytree(tiny_dataset, other)
    open_dataset(qtbot, window, tiny_dataset)
    tv = window.training_view
    tv._config = dataclasses.replace(TrainConfig(data_dir=str(tiny_dataset)))  # as a run on it leaves it
    assert not tv.message.isVisibleTo(tv)
    open_dataset(qtbot, window, other)
    assert tv.message.isVisibleTo(tv)
    assert "from the last run, on shapes" in tv.message.text() and "trains on other" in tv.message.text()


def test_a_finished_run_restarts_the_added_since_training_badge(qtbot, window, tiny_dataset):
    """One run_finished handler does both jobs: Export's default model and Classify's feedback badge."""
    from resnet_gui.ui.classify.feedback import last_trained

    open_dataset(qtbot, window, tiny_dataset)
    before = last_trained(str(tiny_dataset))
    window.training_view.result_box.usable = True
    window.training_view.run_finished.emit(types.SimpleNamespace(checkpoint="/x/best.safetensors"))
    assert window.latest_model == "/x/best.safetensors"
    assert last_trained(str(tiny_dataset)) > before
