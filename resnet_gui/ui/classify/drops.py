"""Classify tab: what comes in by paste and by drag-and-drop, as a mixin of the view (like live.py), so
view.py keeps its size. A dropped checkpoint loads, a video file plays, anything else is classified."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QImage

from resnet_gui.ui.common import is_checkpoint_file


class DropInputs:
    """Mixed into InferenceView (which has classify, load_checkpoint, open_video and _show_error)."""

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasImage():
            img = QImage(mime.imageData())
            if not img.isNull():
                self.classify([img])
                return
        if mime is not None and mime.hasUrls():
            self.handle_urls([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
            return
        self._show_error("The clipboard holds no image to classify.")

    def handle_urls(self, paths: list[str]) -> None:
        """Dropped or pasted files: a checkpoint loads, anything else is classified."""
        from resnet_gui.engine.infer.video import is_video_file  # torch-free

        paths = [p for p in paths if p]
        ckpts = [p for p in paths if is_checkpoint_file(p) and Path(p).is_file()]
        videos = [p for p in paths if p not in ckpts and is_video_file(p)]
        others = [p for p in paths if p not in ckpts and p not in videos]
        if ckpts:
            self.load_checkpoint(ckpts[-1])
        if videos:
            self.open_video(videos[-1])
        if others:
            self.classify(others)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls():
            local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if not local:
                self._show_error("Only local files can be classified (not web links).")
            self.handle_urls(local)
        elif mime.hasImage():
            self.classify([QImage(mime.imageData())])
        event.acceptProposedAction()
