"""Run engine calls off the GUI thread and turn what they report into Qt signals.

`Worker` is the superqt shape, thin: a QObject moved to its own QThread calls one function; events the
function reports through `on_event` come out as `event(object)`, then `returned(result)` or
`errored(exception)`, then `finished()`. `stop()` sets the `threading.Event` the engine checks between
batches; `join()` waits for the thread. Views connect to the signals and only draw.

`LatestJob` is the one "one job at a time, the newest request wins" helper every view uses: starting a
job cancels (and disconnects) the one before it. The functions the workers run live in ui/jobs.py.

`ImageLoader` decodes images into small QImages on a QThreadPool (newest request first, so the rows on
screen come before the ones scrolled past) for thumbnails and previews.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from resnet_gui.ui.jobs import load_qimage

log = logging.getLogger(__name__)


class Worker(QObject):
    """Calls `fn(*args, on_event=..., stop=..., **kwargs)` on a fresh QThread (events=False: plain call)."""

    started = Signal()
    event = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, events: bool = True, **kwargs: Any):
        super().__init__()
        self._fn, self._args, self._kwargs, self._events = fn, args, kwargs, events
        self._stop = threading.Event()
        self._thread: QThread | None = None
        self._done = threading.Event()

    # --- GUI thread -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a Worker runs once")
        thread = QThread()
        thread.setObjectName(getattr(self._fn, "__name__", "worker"))
        self.moveToThread(thread)
        thread.started.connect(self._run)
        # Quit from the worker thread itself, so join() never depends on the GUI event loop.
        self.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Ask the engine to stop (it checks between batches); returns at once."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def is_running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def join(self, timeout_ms: int | None = None) -> bool:
        """Wait for the thread to end; True if it has (or never started)."""
        if self._thread is None:
            return True
        if timeout_ms is None:
            return self._thread.wait()
        return self._thread.wait(timeout_ms)

    def stop_and_join(self) -> None:
        self.stop()
        self.join()

    # --- worker thread ----------------------------------------------------------------------------
    @Slot()
    def _run(self) -> None:
        self.started.emit()
        try:
            if self._events:
                result = self._fn(*self._args, on_event=self.event.emit, stop=self._stop, **self._kwargs)
            else:
                result = self._fn(*self._args, **self._kwargs)
        except Exception as exc:  # reported to the window by the view, never swallowed
            log.debug("worker %s failed", self._fn, exc_info=True)
            self.errored.emit(exc)
        else:
            self.returned.emit(result)
        finally:
            self._done.set()
            self.finished.emit()


class _Job(QObject):
    """One request of a LatestJob: its Worker, and the owner's callbacks while it is not cancelled."""

    def __init__(self, owner: LatestJob, worker: Worker, callbacks: dict[str, Callable[..., Any] | None]):
        super().__init__()
        self.owner, self.worker, self.callbacks = owner, worker, callbacks
        self.cancelled = False
        worker.event.connect(self._on_event)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)

    def deliver(self, name: str, *args: Any) -> None:
        callback = self.callbacks.get(name)
        if callback is not None and not self.cancelled:
            callback(*args)

    # bound slots of a GUI-thread object: the worker's signals arrive here on the GUI thread
    @Slot(object)
    def _on_event(self, event: object) -> None:
        self.deliver("on_event", event)

    @Slot(object)
    def _on_returned(self, result: object) -> None:
        self.deliver("on_done", result)

    @Slot(object)
    def _on_errored(self, exc: BaseException) -> None:
        self.deliver("on_error", exc)

    @Slot()
    def _on_finished(self) -> None:
        self.worker.join()  # returns at once: the function is over, its thread is exiting
        self.owner._ended(self)


class LatestJob(QObject):
    """One job at a time for one view, and the newest request wins.

    `start(fn, *args)` cancels the job before it, as Orange's `ConcurrentMixin.start()` does: its stop
    flag is set and nothing it reports reaches the view any more (superqt's workers send no `returned`
    after an abort). The new job runs as soon as the cancelled one's thread has ended, so a view's jobs
    never compete for the CPU; while it waits, a newer `start` replaces it. Callbacks run on the GUI
    thread: `on_event(e)` per event (`events=True`: `fn` gets `on_event` and `stop` keyword arguments),
    then `on_done(result)` or `on_error(exc)`, then `on_finished()`; a cancelled job calls none of them.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._current: _Job | None = None  # the newest request: running, or waiting for `_running`
        self._running: _Job | None = None  # the job whose thread runs now (perhaps cancelled)
        self._ended_job: _Job | None = None  # kept until the next one ends: never deleted in its own slot

    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        events: bool = False,
        on_event: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        self.cancel()
        callbacks = {
            "on_event": on_event,
            "on_done": on_done,
            "on_error": on_error,
            "on_finished": on_finished,
        }
        self._current = _Job(self, Worker(fn, *args, events=events, **kwargs), callbacks)
        if self._running is None:
            self._launch()

    def cancel(self) -> None:
        """Stop the current job and forget it: none of its callbacks will run."""
        job, self._current = self._current, None
        if job is not None:
            job.cancelled = True
            job.worker.stop()

    def stop(self) -> None:
        """Ask the current job to stop (the engine checks between steps); it still reports its result."""
        if self._current is not None:
            self._current.worker.stop()

    def is_running(self) -> bool:
        """True from `start` until the newest job's `on_finished` (also while it waits for an older one)."""
        return self._current is not None

    def shutdown(self) -> None:
        """Cancel, and wait for the thread still running (window closing)."""
        self.cancel()
        job = self._running
        if job is not None:
            job.worker.stop_and_join()

    def _launch(self) -> None:
        self._running = self._current
        self._running.worker.start()

    def _ended(self, job: _Job) -> None:
        self._running, self._ended_job = None, job
        if job is self._current:
            self._current = None
            job.deliver("on_finished")
        if self._current is not None and self._running is None:
            self._launch()  # the newest request, waiting for the cancelled one to end


class _LoaderSignals(QObject):
    loaded = Signal(str, QImage, object)
    failed = Signal(str, str)


class _Drain(QRunnable):
    def __init__(self, loader: ImageLoader):
        super().__init__()
        self._loader = loader

    def run(self) -> None:
        self._loader._drain()


class ImageLoader(QObject):
    """Loads images as QImages no larger than `max_side` on a thread pool; newest requests first.

    `request(path)` is cheap and idempotent while a request is pending. The queue is bounded: the
    oldest requests fall off (they were scrolled past) and are asked again when seen again.
    """

    loaded = Signal(str, QImage, object)  # path, image, {"width", "height"} of the original
    failed = Signal(str, str)  # path, reason

    def __init__(
        self,
        max_side: int,
        threads: int = 2,
        max_pending: int = 256,
        upscale: bool = False,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.max_side = max_side
        self.upscale = upscale
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._pending: set[str] = set()
        self._running = 0
        self._closed = False
        self._kick_scheduled = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _LoaderSignals()
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)

    def request(self, path: str) -> None:
        with self._lock:
            if self._closed or path in self._pending:
                return
            self._pending.add(path)
            self._queue.append(path)
            while len(self._queue) > self._max_pending:
                self._pending.discard(self._queue.popleft())
        if not self._kick_scheduled:
            # one start per event-loop pass, not per request: a paint asks for dozens of thumbnails
            self._kick_scheduled = True
            QTimer.singleShot(0, self, self._kick)

    def _kick(self) -> None:
        self._kick_scheduled = False
        with self._lock:
            n = min(len(self._queue), self._pool.maxThreadCount() - self._running)
            n = 0 if self._closed else max(0, n)
            self._running += n
        for _ in range(n):
            self._pool.start(_Drain(self))

    def cancel_all(self) -> None:
        with self._lock:
            self._queue.clear()
            self._pending.clear()

    def is_pending(self, path: str) -> bool:
        with self._lock:
            return path in self._pending

    def shutdown(self) -> None:
        """Drop queued work and wait for images being decoded now."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._pending.clear()
        self._pool.waitForDone()

    def _drain(self) -> None:  # pool thread
        while True:
            with self._lock:
                if self._closed or not self._queue:
                    self._running -= 1
                    return
                path = self._queue.pop()  # newest first
            try:
                qimg, info = load_qimage(path, self.max_side, self.upscale)  # ui/jobs.py
            except Exception as exc:  # a bad file is a row in the problems list, not a crash
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                self._signals.failed.emit(path, reason)
            else:
                self._signals.loaded.emit(path, qimg, info)

    @Slot(str, QImage, object)
    def _on_loaded(self, path: str, qimg: QImage, info: dict) -> None:
        with self._lock:
            self._pending.discard(path)
        self.loaded.emit(path, qimg, info)

    @Slot(str, str)
    def _on_failed(self, path: str, reason: str) -> None:
        with self._lock:
            self._pending.discard(path)
        self.failed.emit(path, reason)
