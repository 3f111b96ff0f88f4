"""The Classify tab's detail panel: the selected result's picture (with the Grad-CAM toggle under it),
the answer, the top-k bars, the timings and the file.

The picture comes from the one decode made while classifying (the view's PictureCache); a row whose
picture has left that cache is read again on a thread pool, its thumbnail shown meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from resnet_gui.format import fmt_pct
from resnet_gui.ui.classify.trust import UNKNOWN_STYLE, unknown_text
from resnet_gui.ui.classify.widgets import PREVIEW_SIDE, TIMING_TIP, ImagePreview, TopKBars, timing_html
from resnet_gui.ui.common import heading
from resnet_gui.ui.jobs import PASTED
from resnet_gui.ui.workers import ImageLoader

if TYPE_CHECKING:
    from resnet_gui.ui.classify.extras import CamToggle
    from resnet_gui.ui.classify.widgets import PictureCache
    from resnet_gui.ui.jobs import Row


class DetailPanel(QSplitter):
    """The picture on the left, what the model said about it on the right."""

    def __init__(self, cam: CamToggle, pictures: PictureCache, parent: QWidget | None = None):
        super().__init__(parent)
        self.cam = cam
        self.pictures = pictures
        self.shown: Row | None = None
        self._device = ""  # where the shown row's model ran
        self.previews = ImageLoader(PREVIEW_SIDE, threads=1, max_pending=4, parent=self)
        self.previews.loaded.connect(self._on_preview)
        self.previews.failed.connect(self._on_preview_failed)

        self.preview = ImagePreview()
        self.result_title = heading("", 1.5)
        self.result_title.setWordWrap(True)
        self.topk = TopKBars()
        self.unknown_label = QLabel()  # "none of these", in its own style (ui/classify/trust.py)
        self.unknown_label.setStyleSheet(UNKNOWN_STYLE)
        self.unknown_label.setWordWrap(True)
        self.unknown_label.hide()
        self.timing_label = QLabel()
        self.timing_label.setWordWrap(True)
        self.timing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.timing_label.setToolTip(TIMING_TIP)
        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setEnabled(False)
        details = QWidget()
        dv = QVBoxLayout(details)
        dv.addWidget(self.result_title)
        dv.addWidget(self.unknown_label)
        dv.addWidget(self.topk)
        dv.addSpacing(8)
        dv.addWidget(self.timing_label)
        dv.addWidget(self.path_label)
        dv.addStretch(1)
        details.setMinimumWidth(300)
        cam.overlay_ready.connect(self.preview.set_image)
        cam.restore.connect(
            lambda: self.show_row(self.shown, self._device) if self.shown is not None else None
        )
        picture = QWidget()
        pv = QVBoxLayout(picture)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addWidget(self.preview, 1)
        pv.addWidget(cam.checkbox)
        pv.addWidget(cam.caption)
        self.addWidget(picture)
        self.addWidget(details)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)

    def show_row(self, row: Row, device: str) -> None:
        """Show one result; `device`: where the model ran (for the timings)."""
        p = row.prediction
        self.shown, self._device = row, device
        picture = self.pictures.get(row.path)
        self.cam.show_row(row, picture if picture else row.image if row.image is not None else row.path)
        self.path_label.setText(row.path or PASTED)
        self.unknown_label.setVisible(bool(p.unknown) and not p.error)
        self.unknown_label.setText(unknown_text(p) if p.unknown else "")
        if p.error:
            self.result_title.setText(f"Cannot classify {row.name}")
            self.topk.set_topk([])
            self.timing_label.setText(p.error)
            self.preview.set_image(None, "No picture")
            return
        name, prob = p.topk[0]
        self.result_title.setText("Unknown" if p.unknown else f"{name} — {fmt_pct(prob)}")
        self.topk.set_topk(p.topk)
        self.timing_label.setText(timing_html(p.timing_ms, device))
        if row.image is not None:
            self.preview.set_image(row.image)
        elif picture is not None:  # decoded when it was classified
            self.preview.set_image(picture.preview)
            self.path_label.setText(f"{row.path} · {picture.size[0]} × {picture.size[1]} px")
        elif row.path:  # its picture has left the cache: read it again
            self.preview.set_image(row.thumb, "Loading…")  # the thumbnail until the full picture is read
            self.previews.request(row.path)

    def clear(self) -> None:
        self.preview.set_image(None)

    @Slot(str, QImage, object)
    def _on_preview(self, path: str, img: QImage, info: dict) -> None:
        shown = self.shown
        if shown is not None and shown.path == path:
            if not self.cam.is_shown(path):  # the Grad-CAM overlay, when on, stays
                self.preview.set_image(img)
            self.path_label.setText(f"{path} · {info['width']} × {info['height']} px")

    @Slot(str, str)
    def _on_preview_failed(self, path: str, reason: str) -> None:
        shown = self.shown
        if shown is not None and shown.path == path and not self.preview.has_image():
            self.preview.set_image(None, reason)

    def shutdown(self) -> None:
        self.previews.shutdown()
