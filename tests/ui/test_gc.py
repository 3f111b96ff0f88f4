"""Garbage collection runs on the GUI thread only (a collection on a worker thread can destroy Qt objects)."""

from __future__ import annotations

import gc
import threading
import weakref


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_cycles_are_collected_by_the_gui_thread_not_by_a_worker(qtbot, gui_thread_gc):
    assert not gc.isenabled()  # automatic collection (in any thread) is off
    collected_in: list[str] = []

    class Tracked(_Cycle):
        def __del__(self) -> None:
            collected_in.append(threading.current_thread().name)

    ref = weakref.ref(Tracked())

    def churn() -> None:  # a worker allocating far past the gen-0 threshold
        for _ in range(5):
            [_Cycle() for _ in range(gc.get_threshold()[0] * 2)]

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()
    assert ref() is not None  # the worker's allocations did not trigger a collection
    qtbot.waitUntil(lambda: ref() is None, timeout=5_000)  # the GUI-thread timer did
    assert collected_in == [threading.main_thread().name]
