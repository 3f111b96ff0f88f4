"""Shared test set-up.

- Qt runs offscreen (no display needed); set before anything imports Qt.
- UI tests never touch the user's settings or cache: QSettings and XDG_CACHE_HOME point into tmp_path.
- napari's idea: a UI test fails if it leaves a QThread running or a thread pool busy.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")


def _is_ui_test(request: pytest.FixtureRequest) -> bool:
    path = Path(str(request.node.path))
    return "ui" in path.parts[-3:-1] or "qtbot" in request.fixturenames


@pytest.fixture(autouse=True)
def _isolated_app_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch):
    """Every test (and every process it starts) has its own app data folder: the runs folder a `train`
    without --out writes to is never the user's (engine/config.py app_data_dir)."""
    home = tmp_path_factory.mktemp("app-home")
    monkeypatch.setenv("RESNET_GUI_HOME", str(home))
    yield home


@pytest.fixture(autouse=True)
def _isolated_qt_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch
):
    """QSettings (INI, user scope) and the user cache live in a fresh temp folder for each UI test."""
    if not _is_ui_test(request):
        yield
        return
    from PySide6.QtCore import QSettings

    base = tmp_path_factory.mktemp("qt-settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(base / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    yield base


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(request: pytest.FixtureRequest, monkeypatch):
    """Fail a UI test that leaves a QThread running or a QThreadPool working after its widgets closed.

    Autouse and not depending on qtbot, so it is torn down after qtbot has closed the test's widgets.
    """
    if not _is_ui_test(request):
        yield
        return
    from PySide6.QtCore import QThread, QThreadPool

    threads: list[tuple[QThread, str]] = []
    pools: list[QThreadPool] = []
    thread_start, pool_start = QThread.start, QThreadPool.start

    def start_thread(self, *args, **kwargs):
        threads.append((self, "".join(traceback.format_stack(limit=6)[:-1])))
        return thread_start(self, *args, **kwargs)

    def start_pool(self, *args, **kwargs):
        pools.append(self)
        return pool_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start_thread)
    monkeypatch.setattr(QThreadPool, "start", start_pool)
    yield
    dangling = []
    for thread, where in threads:
        try:
            if thread.isRunning() and not thread.wait(200):  # a thread that is on its way out may finish
                dangling.append(where)
        except RuntimeError:  # the C++ object is already deleted: certainly not running
            pass
    busy_pools = 0
    for pool in pools:
        try:
            if pool.activeThreadCount() > 0 and not pool.waitForDone(200):
                busy_pools += 1
        except RuntimeError:
            pass
    for thread, _ in threads:  # do not let a dangling thread crash the next test
        try:
            if thread.isRunning():
                thread.quit()
                thread.wait(5000)
        except RuntimeError:
            pass
    if dangling or busy_pools:
        msg = f"{len(dangling)} QThread(s) still running after the test"
        if busy_pools:
            msg += f", {busy_pools} thread pool(s) still busy"
        pytest.fail(msg + ". Started at:\n\n" + "\n---\n".join(dangling), pytrace=False)
