"""Live classification of a camera feed or a video file: frames in, the newest one classified.

Frames come from OpenCV (`opencv-python-headless`, the `video` extra): one `cv2.VideoCapture` opens a
camera by index on every platform (V4L2, AVFoundation, Media Foundation/DirectShow) and a video file
through its bundled FFmpeg, and its MJPEG writer makes test videos with no codec installed. (PyAV is a
smaller download but needs a platform-specific device name and input format for each camera.)

`run_live(source, classify, on_event, stop)` runs a reader thread that decodes frames at the source's own
pace (a file plays in real time) and offers each to a one-slot mailbox (`LatestFrame`); the calling thread
classifies whatever frame is newest when it is free, so a slow model drops frames instead of queueing them
and the answer is never older than one classification. Events: `FramePreview` (every frame read),
`FrameAnswer` (every classified frame: latency from capture to answer, classifications per second,
frames dropped so far), then `LiveEnded`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = [
    "VIDEO_EXTENSIONS",
    "FrameAnswer",
    "FramePreview",
    "FrameSource",
    "LatestFrame",
    "LiveEnded",
    "is_video_file",
    "run_live",
    "video_backend_missing",
    "write_test_video",
]

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
NEEDS = "video needs the opencv-python-headless package (pip install 'resnet-gui[video]')"


def is_video_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _cv2():
    try:
        import cv2
    except ImportError as exc:
        raise EngineError(NEEDS) from exc
    return cv2


def video_backend_missing() -> str | None:
    """None when video works here, else what to install (one sentence)."""
    try:
        _cv2()
    except EngineError as exc:
        return str(exc)
    return None


class FrameSource:
    """A camera (an int index) or a video file, read frame by frame as RGB PIL images."""

    def __init__(self, source: int | str | Path):
        cv2 = _cv2()
        self.is_camera = isinstance(source, int)
        self.name = f"camera {source}" if self.is_camera else Path(source).name
        if not self.is_camera and not Path(source).is_file():
            raise EngineError(f"{source} does not exist")
        self._cap = cv2.VideoCapture(source if self.is_camera else str(source))
        if not self._cap.isOpened():
            self._cap.release()
            if self.is_camera:
                raise EngineError("no camera found: none is connected, or another program is using it")
            raise EngineError(f"cannot open {Path(source).name} as a video")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 < fps < 1000 else 30.0  # a camera that reports nothing: assume 30
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not self.is_camera else 0
        self._cv2 = cv2

    def read(self) -> Image.Image | None:
        """The next frame, or None at the end (or when the camera stops delivering)."""
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        return Image.fromarray(self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class LatestFrame:
    """A one-slot mailbox: `put` replaces what is there (counting the replaced frame as dropped), `take`
    waits for a frame and empties the slot. Latest wins; nothing queues."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: tuple[int, float, Image.Image] | None = None
        self._closed = False
        self.dropped = 0

    def put(self, index: int, t: float, image: Image.Image) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = (index, t, image)
            self._cond.notify()

    def take(self, timeout: float | None = None) -> tuple[int, float, Image.Image] | None:
        """The newest frame; None when closed and empty (or on timeout)."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass(frozen=True)
class FramePreview:
    index: int
    image: Image.Image
    source_fps: float


@dataclass(frozen=True)
class FrameAnswer:
    index: int
    prediction: Any  # infer.predict.Prediction
    latency_ms: float  # from the frame's capture to its answer
    fps: float  # classifications per second, over the last second or so
    dropped: int  # frames not classified so far (a newer one had arrived)
    image: Image.Image | None = None  # the frame that was classified (a snapshot saves it)


@dataclass(frozen=True)
class LiveEnded:
    frames: int
    classified: int
    dropped: int
    wall_s: float
    fps: float  # classifications per second over the run
    reason: str  # "end of video", "stopped", or what failed


def run_live(
    source: int | str | Path,
    classify: Callable[[Image.Image], Any],
    on_event: Callable[[object], None],
    stop: threading.Event,
    *,
    realtime: bool = True,
    paused: threading.Event | None = None,
    clock: Callable[[], float] = time.perf_counter,
    preview: Callable[[Image.Image], Any] | None = None,
) -> LiveEnded:
    """Classify `source` (camera index or video file) live until it ends or `stop` is set.

    `classify(image) -> Prediction` runs on the calling thread, always on the newest frame. `realtime`:
    a file is read at its own frame rate (False: as fast as it decodes, for tests and measurements).
    `paused` set: frames are still read (a camera keeps flowing) but none is classified. `preview(image)`
    may shrink a frame for the `FramePreview` event (default: the frame itself).
    """
    src = FrameSource(source)
    box = LatestFrame()
    frames, offered = [0], [0]
    error: list[str] = []
    halt = threading.Event()  # the classifying side is done: the reader ends too

    def reader() -> None:
        t_next = clock()
        try:
            while not stop.is_set() and not halt.is_set():
                img = src.read()
                if img is None:
                    break
                now = clock()
                i = frames[0]
                frames[0] += 1
                on_event(FramePreview(i, preview(img) if preview else img, src.fps))
                if paused is None or not paused.is_set():
                    offered[0] += 1
                    box.put(i, now, img)
                if realtime and not src.is_camera:  # a file plays at its own pace; a camera paces itself
                    t_next += 1.0 / src.fps
                    delay = t_next - clock()
                    if delay > 0:
                        halt.wait(delay)  # a Stop waits at most one frame
                    else:
                        t_next = clock()
        except Exception as exc:  # a broken stream ends the run with its reason, never silently
            error.append(f"{type(exc).__name__}: {exc}")
        finally:
            box.close()

    t0 = clock()
    thread = threading.Thread(target=reader, name="video-reader", daemon=True)
    thread.start()
    done, recent = 0, []
    try:
        while not stop.is_set():
            item = box.take(timeout=0.5)
            if item is None:
                if box.closed:
                    break
                continue
            index, t_cap, img = item
            pred = classify(img)
            now = clock()
            done += 1
            recent = [t for t in recent if now - t < 1.0] + [now]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            on_event(FrameAnswer(index, pred, (now - t_cap) * 1000.0, fps, box.dropped, img))
    finally:
        halt.set()
        box.close()
        thread.join(timeout=5.0)
        src.close()
    wall = clock() - t0
    reason = error[0] if error else ("stopped" if stop.is_set() else "end of video")
    dropped = max(0, offered[0] - done)  # offered for classification but overtaken by a newer frame
    ended = LiveEnded(frames[0], done, dropped, wall, done / wall if wall > 0 else 0.0, reason)
    on_event(ended)
    return ended


def write_test_video(
    path: str | Path, frames: int = 8, size: int = 64, fps: float = 10.0, hold: int = 1
) -> Path:
    """A tiny MJPEG .avi of demo shapes (each shown for `hold` frames, cycling), for tests and demos."""
    import numpy as np

    from resnet_gui.engine.data.demo import DEMO_CLASSES, draw_shape

    cv2 = _cv2()
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    if not writer.isOpened():
        raise EngineError(f"cannot write a video to {path}")
    rng = np.random.default_rng(0)
    try:
        img = None
        for i in range(frames):
            if i % hold == 0:
                img = draw_shape(DEMO_CLASSES[(i // hold) % len(DEMO_CLASSES)], size, rng).convert("RGB")
            writer.write(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
