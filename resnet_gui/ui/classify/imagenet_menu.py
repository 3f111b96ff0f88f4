"""Classify's "ImageNet (1,000 classes)" menu: torchvision's ResNet-18 … 152 beside trained checkpoints.

Each entry says whether its weights are on disk, would download (and how big), or cannot be had here (and
how to get them). Picking one that is not on disk downloads it first (progress bar, Cancel), then the view
loads `imagenet:<arch>` like any checkpoint (engine/model/imagenet.py).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QPushButton, QWidget

from resnet_gui.engine.config import ARCHS, arch_label
from resnet_gui.ui.common import error_text
from resnet_gui.ui.jobs_tools import imagenet_facts
from resnet_gui.ui.train.weights_panel import DownloadBox, size_text
from resnet_gui.ui.workers import LatestJob

MENU_TITLE = "ImageNet (1,000 classes)"


def how_to_get(facts: dict, folder: str) -> str:
    return (
        f"copy {facts['file']} (from {facts['url']}, on a machine with internet) into {folder}, "
        "or use Import weights file… on the Train tab"
    )


class ImageNetPicker(QPushButton):
    """A button with the menu of ImageNet models; `box` (the download progress) goes into the view."""

    chosen = Signal(str)  # "imagenet:<arch>", its weights on disk: load it
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(MENU_TITLE, parent)
        self.setToolTip("torchvision's ResNets trained on ImageNet: classify everyday photos, no training")
        self.facts: dict | None = None  # jobs_tools.imagenet_facts(probe=True)
        self._job = LatestJob(self)
        self.menu = QMenu(self)
        self.actions_by_arch: dict[str, QAction] = {}
        for arch in ARCHS:
            action = self.menu.addAction(f"{arch_label(arch)}  ·  checking…")
            action.triggered.connect(lambda _=False, a=arch: self.pick(a))
            self.actions_by_arch[arch] = action
        self.setMenu(self.menu)
        self.menu.aboutToShow.connect(self.refresh)
        self.box = DownloadBox()
        self.box.downloaded.connect(self._on_downloaded)
        self.box.failed.connect(self._on_failed)

    def refresh(self) -> None:
        """Look (off-thread) at what is on disk and whether the download server answers."""
        if not self._job.is_running():
            self._job.start(imagenet_facts, True, on_done=self.set_facts)

    def set_facts(self, facts: dict) -> None:
        self.facts = facts
        for arch, action in self.actions_by_arch.items():
            action.setText(f"{arch_label(arch)}  ·  {self.state_text(arch)}")

    def state_text(self, arch: str) -> str:
        if self.facts is None:
            return "checking…"
        f = self.facts["archs"][arch]
        if f["cached"]:
            return "on disk"
        if self.facts["unreachable"]:
            return "not on disk, cannot download here (pick it to see how to get it)"
        return f"downloads {size_text(f['mb'])} on first use"

    def pick(self, arch: str) -> None:
        if self.facts is None or self.box.is_running():
            return
        f = self.facts["archs"][arch]
        if f["cached"]:
            self.chosen.emit(f"imagenet:{arch}")
        elif self.facts["unreachable"]:
            self.error.emit(
                f"The ImageNet weights for {arch_label(arch)} are not on this machine and cannot be "
                f"downloaded ({self.facts['unreachable']}). To use them, {how_to_get(f, self.facts['folder'])}."
            )
        else:
            self.box.start(arch, f["mb"])

    def _on_downloaded(self, arch: str, path: str) -> None:
        if self.facts is not None:
            self.facts["archs"][arch]["cached"] = path
            self.set_facts(self.facts)
        self.chosen.emit(f"imagenet:{arch}")

    def _on_failed(self, arch: str, message: str) -> None:
        if not message:
            return  # cancelled by the user
        f = self.facts["archs"][arch] if self.facts else None
        self.error.emit(error_text(message) + (f" (the file: {f['file']} from {f['url']})" if f else ""))
        self.facts = None  # look again next time the menu opens
        self.refresh()

    def is_busy(self) -> bool:
        return self._job.is_running() or self.box.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()
        self.box.shutdown()
