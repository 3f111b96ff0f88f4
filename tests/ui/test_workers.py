"""The thin worker: events become signals, results and errors arrive, stop is cooperative."""

from __future__ import annotations

import threading

from PySide6.QtGui import QImage

from resnet_gui.ui.workers import ImageLoader, Worker


def counting(n: int, on_event, stop: threading.Event) -> int:
    for i in range(n):
        on_event(i)
    return n


def until_stopped(on_event, stop: threading.Event) -> str:
    on_event("running")
    stop.wait(30)
    return "stopped" if stop.is_set() else "timeout"


def fails() -> None:
    raise ValueError("nope")


def test_events_then_result_then_finished(qtbot):
    w = Worker(counting, 5)
    got, order = [], []
    w.event.connect(got.append)
    w.returned.connect(lambda r: order.append(("returned", r)))
    w.finished.connect(lambda: order.append("finished"))
    with qtbot.waitSignal(w.finished, timeout=10_000):
        w.start()
    assert got == [0, 1, 2, 3, 4]
    assert order == [("returned", 5), "finished"]
    assert w.join(1000) and not w.is_running()


def test_errors_are_signals_not_crashes(qtbot):
    w = Worker(fails, events=False)
    with qtbot.waitSignal(w.errored, timeout=10_000) as blocker:
        w.start()
    assert isinstance(blocker.args[0], ValueError)
    w.join()


def test_stop_sets_the_engine_flag_and_join_waits(qtbot):
    w = Worker(until_stopped)
    results = []
    w.returned.connect(results.append)
    with qtbot.waitSignal(w.event, timeout=10_000):
        w.start()
    assert w.is_running()
    w.stop_and_join()
    assert not w.is_running()
    qtbot.waitUntil(lambda: results == ["stopped"], timeout=5_000)


def test_image_loader_loads_and_reports_failures(qtbot, tiny_dataset, tmp_path):
    loader = ImageLoader(48)
    good = str(sorted(tiny_dataset.glob("*/*.png"))[0])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with qtbot.waitSignal(loader.loaded, timeout=10_000) as loaded:
        loader.request(good)
    path, img, info = loaded.args
    assert path == good and isinstance(img, QImage) and img.width() == 32 and info["width"] == 32
    with qtbot.waitSignal(loader.failed, timeout=10_000) as failed:
        loader.request(str(bad))
    assert failed.args[0] == str(bad) and failed.args[1]
    loader.shutdown()


def waits_for_stop(tag: str, on_event, stop: threading.Event) -> str:
    on_event(("started", tag))
    stop.wait(30)
    return f"{tag} stopped" if stop.is_set() else f"{tag} timeout"


def test_latest_job_cancels_and_disconnects_the_previous_job(qtbot):
    """Orange's ConcurrentMixin.start(): a new job cancels the running one, which reports nothing more."""
    from resnet_gui.ui.workers import LatestJob

    job = LatestJob()
    got: list = []

    def start(tag: str) -> None:
        job.start(
            waits_for_stop,
            tag,
            events=True,
            on_event=got.append,
            on_done=lambda r: got.append(("done", r)),
            on_finished=lambda: got.append(("finished", tag)),
        )

    start("a")
    qtbot.waitUntil(lambda: ("started", "a") in got, timeout=10_000)
    start("b")  # a is stopped; b runs once a's thread has ended
    assert job.is_running()
    qtbot.waitUntil(lambda: ("started", "b") in got, timeout=10_000)
    job.stop()  # b still reports its result: stop is not cancel
    qtbot.waitUntil(lambda: ("finished", "b") in got, timeout=10_000)
    assert got == [("started", "a"), ("started", "b"), ("done", "b stopped"), ("finished", "b")]
    assert not job.is_running()
    job.shutdown()


def test_latest_job_only_the_newest_waiting_request_runs(qtbot):
    from resnet_gui.ui.workers import LatestJob

    job = LatestJob()
    done: list = []
    job.start(waits_for_stop, "a", events=True, on_done=done.append)
    for tag in ("b", "c", "d"):
        job.start(counting, len(tag), events=True, on_done=lambda r, tag=tag: done.append((tag, r)))
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert done == [("d", 1)]


def test_latest_job_cancel_and_errors(qtbot):
    from resnet_gui.ui.workers import LatestJob

    job = LatestJob()
    errors: list = []
    job.start(fails, on_error=errors.append)
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert isinstance(errors[0], ValueError)
    results: list = []
    job.start(waits_for_stop, "x", events=True, on_done=results.append)
    job.cancel()
    assert not job.is_running()
    job.shutdown()  # joins the cancelled job's thread
    qtbot.wait(50)
    assert results == []
