"""Find LR… in the Train tab (ui/train/lr_finder.py): a sweep on a worker, the plot, Use fills the field."""

from __future__ import annotations

import pytest

from tests.ui.helpers import fill_train_form, open_dataset


@pytest.fixture
def train_window(qtbot, window, tiny_dataset):
    open_dataset(qtbot, window, tiny_dataset)
    fill_train_form(window.training_view, batch_size=8)
    window.tabs.setCurrentWidget(window.training_view)
    return window


def test_find_lr_plots_the_sweep_and_fills_the_field(qtbot, train_window, monkeypatch):
    from resnet_gui.engine.train import lr_find as engine

    monkeypatch.setattr(engine, "MAX_STEPS", 12)  # `steps`: min(MAX_STEPS, ...): a short sweep
    view = train_window.training_view
    finder = view.lr_finder
    assert finder.button.isVisible() and finder.button.isEnabled()
    view.form.lr.setText("")
    dialog = finder.open()
    assert dialog is not None and dialog.is_running()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=120_000)
    result = dialog.result
    assert result is not None and 5 <= len(result.lrs) <= 12
    x, y = dialog.curve.getData()
    assert len(x) == len(result.lrs) and list(y) == pytest.approx(result.smoothed)
    assert dialog.plot.getPlotItem().ctrl.logXCheck.isChecked()  # log x
    if result.suggestion is None:
        pytest.skip("sweep too short for a suggestion on this data")
    assert dialog.marker.isVisible() and dialog.use_button.isEnabled()
    dialog.use_button.click()
    assert float(view.form.lr.text()) == pytest.approx(result.suggestion, rel=0.05)
    assert view.build_config().lr == pytest.approx(result.suggestion, rel=0.05)


def test_a_bad_form_says_so_instead_of_sweeping(qtbot, train_window):
    view = train_window.training_view
    view.form.lr.setText("abc")
    assert view.lr_finder.open() is None
    assert "not a number" in view.message.text()


def test_closing_the_dialog_stops_the_sweep(qtbot, train_window):
    view = train_window.training_view
    dialog = view.lr_finder.open()
    qtbot.waitUntil(lambda: len(dialog.lrs) >= 1, timeout=120_000)
    dialog.reject()  # Close / Escape: stops within a batch and joins the thread
    assert not dialog.is_running()
