"""Pretrained weights in the Train form: download with a progress bar, import a file, arch checks.

`DownloadBox` downloads torchvision's ImageNet weights for one architecture on a worker (progress bar,
Cancel; the engine leaves nothing in the cache when it is cancelled or fails); the Classify tab uses it too.
`WeightsPanel` sits under the form's "Pretrained" choice: what is on disk, Download, "Import weights file…",
the cache folder as selectable text, and the early "these weights are ResNet-50, not ResNet-18" message
when a weights file or an architecture is chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine.config import arch_label
from resnet_gui.ui.common import CHECKPOINT_FILTER, error_text
from resnet_gui.ui.jobs_tools import check_weights, download_imagenet, imagenet_facts, import_weights
from resnet_gui.ui.workers import LatestJob

OK_STYLE = "color: palette(text);"
MB = 2**20  # torchvision's file sizes ("_file_size": 44.661 for resnet18) are in these units
ERROR_STYLE = "color: #b00020;"


def size_text(size_mb: float | None) -> str:
    return f"{size_mb:.1f} MB" if size_mb else "size unknown"


class DownloadBox(QWidget):
    """A progress bar and Cancel for one download at a time, run on a worker."""

    downloaded = Signal(str, str)  # arch, path of the file in the cache
    failed = Signal(str, str)  # arch, message (cancelled: "")
    ended = Signal()  # after either, once the worker is done

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._job = LatestJob(self)
        self.arch = ""
        self.label = QLabel()
        self.label.setWordWrap(True)  # never widen the form's panel
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download; nothing is kept")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(row)
        self.hide()

    def start(self, arch: str, size_mb: float | None = None) -> None:
        self.arch = arch
        self.label.setText(f"Downloading ImageNet weights for {arch_label(arch)} ({size_text(size_mb)})…")
        self.bar.setRange(0, 0)  # busy until the server tells the size
        self.bar.setFormat("connecting…")
        self.show()
        self._job.start(
            download_imagenet,
            arch,
            events=True,
            on_event=self._on_progress,
            on_done=lambda path: self.downloaded.emit(arch, str(path)),
            on_error=self._on_error,
            on_finished=self._on_finished,
        )

    def _on_finished(self) -> None:
        self.hide()
        self.ended.emit()

    def _on_progress(self, e: Any) -> None:
        if e.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * e.done / e.total))
            self.bar.setFormat(f"{e.done / MB:.1f} of {e.total / MB:.1f} MB (%p%)")
        else:
            self.bar.setFormat(f"{e.done / MB:.1f} MB")

    def _on_error(self, exc: BaseException) -> None:
        from resnet_gui.engine.model.hub import DownloadCancelled

        self.failed.emit(self.arch, "" if isinstance(exc, DownloadCancelled) else error_text(exc))

    def cancel(self) -> None:
        """Stop the download: the engine ends between chunks and reports DownloadCancelled."""
        self._job.stop()
        self.label.setText("Cancelling…")

    def is_running(self) -> bool:
        return self._job.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()


class WeightsPanel(QWidget):
    """Under the Train form's Pretrained choice: status, Download, Import, the folder, arch checks."""

    available = Signal(str, str)  # arch, file: ImageNet weights for arch are now on disk

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.facts: dict[str, dict] = {}  # arch -> {"cached", "url", "file", "mb"}
        self.folder = ""
        self.arch = ""
        self.mode = "none"  # "none" | "imagenet" | "file"
        self.file = ""
        self._check_job = LatestJob(self)
        self._import_job = LatestJob(self)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download)
        self.import_button = QPushButton("Import weights file…")
        self.import_button.setToolTip(
            "Copy torchvision's ImageNet file (e.g. resnet18-f37072fd.pth, fetched on another machine) "
            "into the weights folder"
        )
        self.import_button.clicked.connect(self.choose_import)
        self.box = DownloadBox(self)
        self.box.downloaded.connect(self._on_available)
        self.box.failed.connect(self._on_download_failed)
        self.box.ended.connect(self.refresh)
        self._facts_job = LatestJob(self)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.import_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addWidget(self.box)
        layout.addLayout(buttons)
        layout.addWidget(self.folder_label)
        self._message = ""  # an error or notice that outlives a refresh (failed download, bad file)
        self.refresh()

    # --- inputs ------------------------------------------------------------------------------------
    def start_facts(self) -> None:
        """Find out (off-thread, torch loads) which ImageNet files are on disk and what would download."""
        self._facts_job.start(imagenet_facts, on_done=self.set_facts)

    def set_facts(self, facts: dict) -> None:
        """From jobs_tools.imagenet_facts: what is on disk, what downloads, the cache folder."""
        self.facts.update(facts["archs"])
        self.folder = facts["folder"]
        self.refresh()

    def show_for(self, mode: str, arch: str, file: str = "") -> None:
        """The form's choice changed: show what matters for it (and check a chosen file against arch)."""
        changed = (mode, arch, file) != (self.mode, self.arch, self.file)
        self.mode, self.arch, self.file = mode, arch, file
        if changed:
            self._message = ""
            if mode == "file" and file:
                self.check_file()
        self.refresh()

    # --- what is shown -----------------------------------------------------------------------------
    def cached(self, arch: str | None = None) -> bool:
        return bool(self.facts.get(arch or self.arch, {}).get("cached"))

    def refresh(self) -> None:
        facts = self.facts.get(self.arch)
        busy = self.box.is_running()
        imagenet = self.mode == "imagenet"
        self.setVisible(self.mode != "none" or busy)
        self.download_button.setVisible(imagenet and facts is not None and not self.cached() and not busy)
        if facts is not None:
            self.download_button.setText(f"Download ({size_text(facts.get('mb'))})")
            self.download_button.setToolTip(f"Fetch {facts['file']} from {facts['url']}")
        self.import_button.setVisible(imagenet and not busy)
        self.folder_label.setVisible(imagenet and bool(self.folder))
        self.folder_label.setText(f"Weights folder: {self.folder}")
        text, style = self._message, ERROR_STYLE
        if not text and imagenet:
            style = OK_STYLE
            if facts is None:
                text = "Checking which ImageNet weights are on disk…"
            elif self.cached():
                text = (
                    f"ImageNet weights for {arch_label(self.arch)} are on disk: {Path(facts['cached']).name}"
                )
            elif not busy:
                text = (
                    f"ImageNet weights for {arch_label(self.arch)} are not downloaded yet: Download fetches "
                    f"{facts['file']}; offline, import the file or copy it into the folder below."
                )
        elif not text and self.mode == "file" and self.file:
            text, style = f"Weights file: {self.file}", OK_STYLE
        self.status.setText(text)
        self.status.setStyleSheet(style)
        self.status.setVisible(bool(text))

    # --- actions -----------------------------------------------------------------------------------
    def download(self) -> None:
        if self.box.is_running() or not self.arch:
            return
        self._message = ""
        self.box.start(self.arch, self.facts.get(self.arch, {}).get("mb"))
        self.refresh()

    def is_busy(self) -> bool:
        return self.box.is_running() or self._import_job.is_running() or self._check_job.is_running()

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import weights file", "", CHECKPOINT_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        """Check `path` is torchvision's ImageNet file for the chosen arch and copy it into the cache."""
        arch = self.arch
        self._message = ""
        self.status.setText(f"Checking {Path(path).name}…")
        self._import_job.start(
            import_weights,
            path,
            arch,
            on_done=lambda dest: self._on_available(arch, str(dest)),
            on_error=lambda exc: self._show_message(f"Cannot import {Path(path).name}: {error_text(exc)}"),
        )

    def check_file(self) -> None:
        """Is the chosen weights file the chosen architecture? (Read on a worker; the answer shows here.)"""
        path, arch = self.file, self.arch
        self._check_job.start(
            check_weights,
            path,
            arch,
            on_error=lambda exc: self._show_message(error_text(exc)),
        )

    def _show_message(self, text: str) -> None:
        self._message = text
        self.refresh()

    def _on_available(self, arch: str, path: str) -> None:
        self.facts.setdefault(arch, {"url": "", "file": Path(path).name, "mb": None})["cached"] = path
        self._message = ""
        self.available.emit(arch, path)
        self.refresh()

    def _on_download_failed(self, arch: str, message: str) -> None:
        self._show_message(message or "Download cancelled; nothing was kept.")

    def problem(self) -> str:
        """The error shown now (a chosen file of another architecture, a failed download), or ""."""
        return self._message

    def start_problem(self, pretrained: str, arch: str) -> str:
        """Why a run with these weights cannot start yet, or "" (the form refuses Start with it)."""
        if pretrained == "imagenet" and arch in self.facts and not self.cached(arch):
            if self.box.is_running():
                return (
                    "The ImageNet weights are still downloading: wait for them, or choose Pretrained: None."
                )
            return (
                f"The ImageNet weights for {arch_label(arch)} are not downloaded: press Download "
                "(or Import weights file…) first, or choose Pretrained: None."
            )
        if pretrained not in ("none", "imagenet") and self.mode == "file" and self._message:
            return self._message
        return ""

    def shutdown(self) -> None:
        self.box.shutdown()
        self._check_job.shutdown()
        self._import_job.shutdown()
        self._facts_job.shutdown()
