"""The Runs tab (ui/runs/): lists the runs folder, opens a run in Classify and Train, compares, renames and
moves runs to the trash, and says how much disk they take."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from resnet_gui.engine.runs import RUN_FILE, TRASH_DIR


@pytest.fixture
def runs_window(qtbot, window, trained):
    """The window, its runs folder holding two copies of a real 1-epoch run."""
    run_dir = Path(trained[0].checkpoint).parent
    root = window.runs_view.runs_dir
    for name in ("alpha", "beta"):
        shutil.copytree(run_dir, root / name)
        doc = json.loads((root / name / RUN_FILE).read_text())
        doc["name"] = name
        (root / name / RUN_FILE).write_text(json.dumps(doc))
    window.tabs.setCurrentIndex(window.tabs.indexOf(window.runs_view))  # showing it reads the folder
    view = window.runs_view
    qtbot.waitUntil(lambda: view.listing is not None and len(view.model.runs) == 2, timeout=20_000)
    return window


def _names(view) -> set[str]:
    return {r.name for r in view.model.runs}


def test_the_list_shows_each_run_and_the_disk_used(qtbot, runs_window):
    view = runs_window.runs_view
    assert view.runs_dir == runs_window.training_view.runs_dir  # the one folder the Train tab writes to
    assert _names(view) == {"alpha", "beta"}
    row = [view.proxy.index(0, c).data() for c in range(view.proxy.columnCount())]
    assert row[3] == "ResNet-18" and row[4] == 1 and row[5].endswith("%") and row[6].endswith("MB")
    assert row[7] == "finished"
    assert "disk used" in view.usage_label.text() and "MB" in view.usage_label.text()
    assert not view.open_button.isEnabled()  # nothing selected


def test_open_loads_the_best_model_in_classify(qtbot, runs_window):
    view = runs_window.runs_view
    target = next(r for r in view.model.runs if r.name == "beta")
    view.select_paths([target.path])
    assert view.open_button.isEnabled() and not view.compare_button.isEnabled()
    with qtbot.waitSignal(runs_window.state.checkpoint_changed, timeout=30_000) as blocker:
        view.open_button.click()
    assert blocker.args == [target.checkpoint]
    assert runs_window.tabs.currentWidget() is runs_window.inference_view


def test_show_in_train_overlays_its_curves(qtbot, runs_window):
    view = runs_window.runs_view
    target = view.model.runs[0]
    view.select_paths([target.path])
    view.train_button.click()
    assert runs_window.tabs.currentWidget() is runs_window.training_view
    assert runs_window.training_view.compare.combo.currentData() == target.path


def test_compare_two_runs(qtbot, runs_window):
    view = runs_window.runs_view
    view.select_paths([r.path for r in view.model.runs])
    assert view.compare_button.isEnabled()
    view.compare_button.click()
    (dialog,) = view._compare_dialogs
    assert dialog.table.columnCount() == 2 and dialog.table.rowCount() > 5
    assert {dialog.table.horizontalHeaderItem(j).text() for j in range(2)} == {"alpha", "beta"}
    assert all(len(c.getData()[0]) == 1 for c in dialog.curves["acc"])  # one epoch each
    dialog.close()


def test_rename_and_trash(qtbot, runs_window):
    view = runs_window.runs_view
    root = view.runs_dir
    view.select_paths([str(root / "alpha")])
    view.rename_selected("alpha-renamed")
    qtbot.waitUntil(lambda: "alpha-renamed" in _names(view), timeout=20_000)
    assert (root / "alpha-renamed").is_dir() and not (root / "alpha").exists()
    assert [r.name for r in view.selected_runs()] == ["alpha-renamed"]  # still selected
    view.rename_selected("beta")  # taken: said in the window, nothing changes
    assert "already exists" in view.message.text()

    view.trash_selected(confirm=False)
    qtbot.waitUntil(lambda: _names(view) == {"beta"}, timeout=20_000)
    assert len(list((root / TRASH_DIR).iterdir())) == 1
    assert "in the trash" in view.usage_label.text() and view.empty_button.isEnabled()
    view.empty_trash(confirm=False)
    qtbot.waitUntil(lambda: not (root / TRASH_DIR).exists() and not view.is_busy(), timeout=20_000)
    assert "in the trash" not in view.usage_label.text()


def test_the_run_training_now_cannot_be_trashed(qtbot, runs_window):
    view = runs_window.runs_view
    busy = view.model.runs[0].path
    view.is_active = lambda path: path == busy
    view.select_paths([busy])
    assert not view.trash_button.isEnabled() and not view.rename_button.isEnabled()
    view.trash_selected(confirm=False)
    assert Path(busy).is_dir()
