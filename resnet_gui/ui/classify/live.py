"""Classify tab: the trust bar (strictness, mirror) and the live sources (camera, video files), as a mixin
of the view, so view.py keeps its size: `setup_live_sources()` makes the widgets, the methods below are
what its buttons, slider and drops call."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from resnet_gui.ui.classify.trust import TrustBar, rejudge
from resnet_gui.ui.classify.video import VIDEO_FILTER, VideoPanel, no_camera_text
from resnet_gui.ui.common import button


class LiveSources:
    """Mixed into InferenceView (which has predictor, results, message, _show_page, _show_error, ...)."""

    def setup_live_sources(self) -> None:
        self.camera_button = button("Camera", self.open_camera)
        self.camera_button.setToolTip("Classify the camera's live picture")
        self.video_button = button("Open Video…", self.choose_video)
        self.video_button.setToolTip("Classify a video file frame by frame, as it plays (or drop one here)")
        self.trust_bar = TrustBar()
        self.trust_bar.strictness_changed.connect(self._on_strictness)
        self.trust_bar.tta_changed.connect(self._on_tta)
        self.video = VideoPanel()
        self.video.closed.connect(self._show_page)
        self.video.failed.connect(self._show_error)

    def _on_strictness(self, rate: float) -> None:
        """The strictness slider: the results shown are judged again from their stored scores."""
        if self.predictor is None:
            return
        self.predictor.rate = rate
        if rejudge([r.prediction for r in self.results.rows], self.predictor):
            self.results.refresh()
        row = self.selected_row()
        if row is not None:
            self._show_row(row)

    def _on_tta(self, on: bool) -> None:
        if self.predictor is not None:
            self.predictor.tta = on

    def open_camera(self) -> None:
        why = no_camera_text()
        if why is not None:
            self._show_error(why)
            return
        self.open_video(0)

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Video", "", VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, source: int | str) -> None:
        """Play and classify a video file (or camera index) in the video page."""
        if self.predictor is None:
            from resnet_gui.ui.classify.view import NO_MODEL  # the view's own words

            self._show_error(NO_MODEL)
            return
        self.message.hide()
        self.video.start(self.predictor, source)
        self._show_page()
