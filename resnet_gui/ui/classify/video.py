"""Classify tab: live classification of a camera or a video file (engine/infer/video.py via ui/jobs.py).

The frames play in the preview as they are read; a worker classifies the newest one whenever it is free
(frames that arrive meanwhile are dropped, never queued), so the preview never waits for the model. The
status line shows classifications per second, the latency from capture to answer and the frames dropped.
Pause keeps the picture and the answer; Snapshot saves the frame that was classified as an image file.
"""

from __future__ import annotations

import glob
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.format import fmt_pct
from resnet_gui.ui.classify.trust import UNKNOWN_STYLE, unknown_text
from resnet_gui.ui.classify.widgets import PREVIEW_SIDE, ImagePreview
from resnet_gui.ui.common import error_text, heading
from resnet_gui.ui.jobs import LiveFrame, classify_live
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from PIL import Image

    from resnet_gui.engine.infer.predict import Predictor

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv);;All files (*)"
TOPK = 3


def no_camera_text() -> str | None:
    """Why the Camera action cannot work here (None: try it): the backend missing, or no device."""
    from resnet_gui.engine.infer.video import video_backend_missing

    missing = video_backend_missing()
    if missing:
        return f"No camera: {missing}."
    if sys.platform.startswith("linux") and not glob.glob("/dev/video*"):
        return "No camera found on this computer (no video device is connected)."
    return None


class VideoPanel(QWidget):
    """The live source page: preview, the answer for the newest classified frame, fps and latency."""

    closed = Signal()
    failed = Signal(str)
    ended = Signal(object)  # the engine's LiveEnded

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.predictor: Predictor | None = None
        self.source: int | str | None = None
        self._job = LatestJob(self)
        self._paused = threading.Event()
        self.last_frame: Image.Image | None = None  # the frame the shown answer is about
        self.answers = 0
        self.frames = 0
        self.result: object | None = None
        self.preview = ImagePreview()
        self.title = heading("", 1.4)
        self.title.setWordWrap(True)
        self.unknown = QLabel()
        self.unknown.setStyleSheet(UNKNOWN_STYLE)
        self.unknown.setWordWrap(True)
        self.unknown.hide()
        self.topk = QLabel()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.source_label = QLabel()
        self.source_label.setEnabled(False)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.snapshot_button = QPushButton("Snapshot…")
        self.snapshot_button.setToolTip("Save the frame the answer is about as an image file")
        self.snapshot_button.clicked.connect(self.choose_snapshot)
        # "Add to dataset ▸ class": the classified frame, journaled like Classify's feedback (set_dataset_hooks)
        self.add_button = QToolButton()
        self.add_button.setText("Add to dataset ▸")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setMenu(QMenu(self.add_button))
        self.add_button.menu().aboutToShow.connect(self._fill_add_menu)
        self.add_button.setEnabled(False)
        self._classes: Callable[[], list[str]] | None = None
        self._add: Callable[[str, str], object] | None = None
        self.stop_button = QPushButton("Close")
        self.stop_button.setToolTip("Stop the video and go back to the images")
        self.stop_button.clicked.connect(self.close_source)
        side = QVBoxLayout()
        side.addWidget(self.source_label)
        side.addWidget(self.title)
        side.addWidget(self.unknown)
        side.addWidget(self.topk)
        side.addSpacing(8)
        side.addWidget(self.status)
        side.addStretch(1)
        buttons = QHBoxLayout()
        for b in (self.pause_button, self.snapshot_button, self.add_button, self.stop_button):
            buttons.addWidget(b)
        side.addLayout(buttons)
        row = QHBoxLayout(self)
        row.addWidget(self.preview, 3)
        row.addLayout(side, 2)

    @property
    def active(self) -> bool:
        return self.source is not None

    def start(self, predictor: Predictor, source: int | str) -> None:
        """Play and classify `source` (a camera index or a video file) with `predictor`."""
        self._job.cancel()
        self.predictor, self.source = predictor, source
        self.answers = self.frames = 0
        self.last_frame = self.result = None
        self._paused.clear()
        self.pause_button.setChecked(False)
        self.snapshot_button.setEnabled(False)
        self.add_button.setEnabled(False)
        name = f"Camera {source}" if isinstance(source, int) else Path(source).name
        self.source_label.setText(name)
        self.title.setText("Starting…")
        self.unknown.hide()
        self.topk.setText("")
        self.status.setText("")
        self._job.start(
            classify_live,
            predictor,
            source,
            TOPK,
            PREVIEW_SIDE,
            self._paused,
            events=True,
            on_event=self._on_event,
            on_done=self._on_done,
            on_error=self._on_error,
        )

    def set_paused(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()
        self.pause_button.setText("Resume" if paused else "Pause")

    def close_source(self) -> None:
        self._job.cancel()
        self.source = None
        self.closed.emit()

    def is_running(self) -> bool:
        return self._job.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()

    # --- events -----------------------------------------------------------------------------------
    def _on_event(self, e: object) -> None:
        from resnet_gui.engine.infer.video import FrameAnswer

        if isinstance(e, LiveFrame):
            self.frames += 1
            if not self._paused.is_set():
                self.preview.set_image(e.image)
        elif isinstance(e, FrameAnswer):
            if self._paused.is_set():
                return  # the answer being read stays
            self.answers += 1
            self.last_frame = e.image
            self.snapshot_button.setEnabled(True)
            self.add_button.setEnabled(self._add is not None)
            self.show_answer(e.prediction)
            self.status.setText(
                f"{e.fps:.1f} classifications/s · latency {e.latency_ms:.0f} ms · {e.dropped} frames dropped "
                "(the newest frame is classified; none wait)"
            )

    def show_answer(self, p) -> None:
        if p.error:
            self.title.setText(f"Cannot classify this frame: {p.error}")
            return
        name, prob = p.topk[0]
        if p.unknown:
            self.title.setText("Unknown")
            self.unknown.setText(unknown_text(p))
            self.unknown.show()
        else:
            self.title.setText(f"{name} — {fmt_pct(prob)}")
            self.unknown.hide()
        self.topk.setText("<br>".join(f"{c}: {fmt_pct(v)}" for c, v in p.topk))

    def _on_done(self, ended: object) -> None:
        self.result = ended
        tail = f"{ended.classified} of {ended.frames} frames classified, {ended.fps:.1f}/s"  # type: ignore[attr-defined]
        self.status.setText(f"{self.status.text()}\n{ended.reason}: {tail}")  # type: ignore[attr-defined]
        self.ended.emit(ended)

    def _on_error(self, exc: BaseException) -> None:
        text = error_text(exc)
        self.title.setText("")
        self.status.setText(text)
        self.failed.emit(text)

    # --- snapshot ---------------------------------------------------------------------------------
    def choose_snapshot(self) -> None:
        if self.last_frame is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save Snapshot", "snapshot.png", "Images (*.png *.jpg)")
        if path:
            self.save_snapshot(path)

    def save_snapshot(self, path: str) -> str | None:
        """Write the classified frame to `path` (PNG or JPEG by its extension); None on failure."""
        if self.last_frame is None:
            return None
        try:
            self.last_frame.save(path)
        except (OSError, ValueError) as exc:
            self.failed.emit(f"Cannot save {path}: {exc}")
            return None
        return path

    # --- the frame into the dataset -------------------------------------------------------------------
    def set_dataset_hooks(self, classes: Callable[[], list[str]], add: Callable[[str, str], object]) -> None:
        """`classes()`: the open dataset's classes ([] when none is open); `add(path, class)`: copy the
        file into that class, journaled (ui/classify/feedback.py's FixActions.add_copies)."""
        self._classes, self._add = classes, add

    def _fill_add_menu(self) -> None:
        menu = self.add_button.menu()
        menu.clear()
        classes = self._classes() if self._classes is not None else []
        if not classes:
            menu.addAction("Open a dataset in the Dataset tab first").setEnabled(False)
            return
        for c in classes:
            menu.addAction(c, lambda c=c: self.add_frame_to(c))

    def add_frame_to(self, to_class: str) -> object | None:
        """The classified frame as a PNG in `to_class` of the open dataset (a copy; Undo removes it)."""
        if self.last_frame is None or self._add is None:
            return None
        name = (
            f"{Path(str(self.source)).stem if isinstance(self.source, str) else 'camera'}-frame{self.frames}"
        )
        with tempfile.TemporaryDirectory(prefix="resnet-gui-frame-") as tmp:
            path = self.save_snapshot(str(Path(tmp) / f"{name}.png"))
            return self._add(path, to_class) if path else None
