"""Run engine calls off the GUI thread and turn what they report into Qt signals.

`Worker` is the superqt shape, thin: a QObject moved to its own QThread calls one function; events the
function reports through `on_event` come out as `event(object)`, then `returned(result)` or
`errored(exception)`, then `finished()`. `stop()` sets the `threading.Event` the engine checks between
batches; `join()` waits for the thread. Views connect to the signals and only draw.

`ImageLoader` decodes images into small QImages on a QThreadPool (newest request first, so the rows on
screen come before the ones scrolled past) for thumbnails and previews.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QImage

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


def lower_thread_priority(niceness: int = 5) -> None:
    """Be nice to the GUI: on Linux niceness is per thread and inherited by the threads (torch's OpenMP
    team) and processes (DataLoader workers) this one starts, so the window stays smooth while they
    use every core. Elsewhere a no-op (macOS would renice the whole process)."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # not allowed here: run at normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def pil_to_qimage(img: Any) -> QImage:
    """A PIL image (any mode) as an RGB QImage that owns its pixels; safe to build off the GUI thread."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    data = img.tobytes("raw", "RGB")
    qimg = QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888)
    return qimg.copy()


def load_qimage(path: str, max_side: int, upscale: bool = False) -> tuple[QImage, dict]:
    """Decode `path` with the engine's one image loader, fit it in `max_side`, return (QImage, info)."""
    from PIL import Image

    from resnet_gui.engine.data.images import load_image

    img = load_image(path)
    info = {"width": img.width, "height": img.height}
    if upscale and max(img.size) < max_side:  # small images fill their thumbnail cell
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
    else:
        img.thumbnail((max_side, max_side))
    return pil_to_qimage(img), info


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
                qimg, info = load_qimage(path, self.max_side, self.upscale)
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
