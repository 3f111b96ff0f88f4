"""The main window: three views, menus and shortcuts, status bar, drops anywhere, settings, excepthook."""

from __future__ import annotations

import sys

from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence

from resnet_gui.ui import common
from resnet_gui.ui.app import install_excepthook
from resnet_gui.ui.main_window import CLASSIFY_TAB, DATASET_TAB, MainWindow
from tests.ui.helpers import drag_enter_accepted, drop_paths, open_dataset


def _actions(window) -> dict[str, str]:
    """Menu action text (without '&' and '…') -> shortcut."""
    out = {}
    for menu_action in window.menuBar().actions():
        for a in menu_action.menu().actions():
            out[a.text().replace("&", "").rstrip("…")] = a.shortcut().toString()
    return out


def test_window_opens_with_three_views_menus_and_device(qtbot, window):
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["Dataset", "Train", "Classify", "Model", "Runs"]
    assert window.tabs.widget(0) is window.dataset_view
    assert window.tabs.widget(1) is window.training_view
    assert window.tabs.widget(2) is window.inference_view
    assert window.tabs.widget(3) is window.model_view
    actions = _actions(window)
    assert actions["Open Dataset Folder"] == "Ctrl+O"
    assert actions["Open Checkpoint"] == "Ctrl+Shift+O"
    assert actions["Export Model"] == "Ctrl+E"
    assert actions["Quit"] == QKeySequence("Ctrl+Q").toString()
    assert "Recent" in actions
    assert "About ResNet GUI" in actions
    # the device is probed off the GUI thread and lands in the status bar
    qtbot.waitUntil(
        lambda: "CPU" in window.device_label.text() or "NVIDIA" in window.device_label.text(), timeout=60_000
    )
    assert window.status_label.text() == "Ready"


def test_settings_are_remembered_in_a_temp_file(qtbot, tmp_path, _isolated_qt_settings):
    assert common.settings().fileName().startswith(str(_isolated_qt_settings))
    first = MainWindow(runs_dir=tmp_path)
    qtbot.addWidget(first)
    first.training_view.form.epochs.setValue(7)
    first.training_view.form.lr.setText("0.003")
    first.resize(700, 500)
    first.close()
    second = MainWindow(runs_dir=tmp_path)
    qtbot.addWidget(second)
    assert second.training_view.form.epochs.value() == 7
    assert second.training_view.form.lr.text() == "0.003"
    assert second.size().width() == 700  # (the offscreen screen is 800x600)
    second.close()


def test_dropping_a_folder_anywhere_opens_it(qtbot, window, tiny_dataset):
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    assert drag_enter_accepted(window, [tiny_dataset])
    with qtbot.waitSignal(window.dataset_view.dataset_loaded, timeout=30_000):
        drop_paths(window, [tiny_dataset])
    assert window.tabs.currentIndex() == DATASET_TAB
    assert window.dataset_view.result.root == str(tiny_dataset)
    assert str(tiny_dataset) in common.settings_list(common.settings(), "recent/folders")
    window._fill_recent()
    assert any(str(tiny_dataset) in a.text() for a in window.recent_menu.actions())


def test_dropping_a_checkpoint_anywhere_loads_it(qtbot, window, checkpoint):
    with qtbot.waitSignal(window.inference_view.checkpoint_loaded, timeout=60_000):
        drop_paths(window, [checkpoint])
    assert window.tabs.currentIndex() == CLASSIFY_TAB
    assert "resnet18" in window.inference_view.model_label.text()
    assert QSettings(common.settings().fileName(), QSettings.Format.IniFormat).value(
        "last_checkpoint"
    ) == str(checkpoint)


def test_window_reopens_with_the_last_checkpoint(qtbot, window, tmp_path, tiny_dataset, checkpoint):
    common.settings().setValue("last_checkpoint", str(checkpoint))
    other = MainWindow(runs_dir=tmp_path)
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.inference_view.checkpoint_loaded, timeout=60_000):
        other.start(str(tiny_dataset))
    qtbot.waitUntil(lambda: other.dataset_view.result is not None, timeout=30_000)
    other.close()


def test_unhandled_exception_is_shown_in_the_window(qtbot, window, monkeypatch, tiny_dataset):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(window)
    try:
        raise ValueError("the frobnicator jammed")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    assert window.message.isVisible()
    assert "the frobnicator jammed" in window.message.text()
    assert "Traceback" in window.message._details
    open_dataset(qtbot, window, tiny_dataset)  # and the app keeps working
    assert window.dataset_view.result is not None
