"""UI fixtures: a tiny dataset (4 classes x 6 images, 32 px), a trained checkpoint, the main window."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._fixtures import checkpoint, demo_dir, trained  # noqa: F401  (shared, built once per session)


@pytest.fixture(scope="session", autouse=True)
def gui_thread_gc(qapp):
    """As in the app (ui/app.py): garbage is collected on the GUI thread only, never on a worker."""
    from resnet_gui.ui.collector import GuiThreadGC

    collector = GuiThreadGC()
    yield collector
    collector.stop()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    from resnet_gui.engine.data.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("ui-data") / "shapes", per_class=6, size=32, seed=0)


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window, shown, with runs going to tmp_path; closed (threads joined) after the test."""
    from resnet_gui.ui.main_window import MainWindow

    w = MainWindow(runs_dir=tmp_path / "runs")
    w.training_view.num_workers = 0
    w.confirm_close_mid_run = False  # no modal question in tests; test_robust_ui checks the question
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
