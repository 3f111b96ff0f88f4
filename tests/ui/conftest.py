"""UI fixtures: a tiny dataset (4 classes x 6 images, 32 px), a trained checkpoint, the main window; a UI
test fails if it leaves a training child process alive."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
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


def _session_members(sid: int) -> list[int]:
    """Live (not zombie) processes in session `sid`: a training child and the DataLoader workers it forked."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
            members.append(int(entry.name))
    return members


@pytest.fixture(autouse=True)
def _no_leftover_training_processes():
    """Fail a UI test that leaves a training child (a run's or the spare, or their workers) alive after
    its window closed. Autouse: torn down after the window fixture has closed the window. Patched by
    hand, not with `monkeypatch`: a test's `monkeypatch.undo()` must not switch the check off."""
    from resnet_gui.engine.train.runtime import TrainingProcess

    launched: list[TrainingProcess] = []
    launch = TrainingProcess.launch

    def recording_launch(self, *args, **kwargs):
        launch(self, *args, **kwargs)
        if self not in launched:
            launched.append(self)

    TrainingProcess.launch = recording_launch
    try:
        yield launched
    finally:
        TrainingProcess.launch = launch
    if sys.platform != "linux":
        return
    deadline = time.monotonic() + 3.0  # one on its way out (it was told to stop or was killed) may end
    while True:
        left = {p.pid: _session_members(p.pid) for p in launched if p.pid is not None}
        left = {pid: members for pid, members in left.items() if members}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in left:  # do not let them run on into the next test
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    if left:
        pytest.fail(f"training processes still alive after the test (session: pids): {left}", pytrace=False)


from tests._weights_server import server, torch_home  # noqa: E402, F401  (download tests: loopback server, $TORCH_HOME)
