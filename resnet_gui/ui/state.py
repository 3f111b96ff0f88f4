"""The app's state: what is open and chosen now, with a signal for each change.

Views subscribe to it instead of reading each other's widgets, as napari's widgets follow its viewer
model: the Dataset tab publishes the open dataset, the Train form the architecture, image size and
validation split it would train with, Classify the loaded checkpoint, the window the devices torch
found. A view reads the current values when it is built and connects to the signals; the main window
creates the one `AppState` and hands it to every view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from resnet_gui.engine.config import DEFAULTS

if TYPE_CHECKING:
    from resnet_gui.ui.jobs import ScanResult


class AppState(QObject):
    """What the views share. Setters emit only on a change, except the two loads: opening a dataset or
    a checkpoint is news even when it is the same path (the files may have changed)."""

    dataset_changed = Signal(object)  # ScanResult: a folder (or the demo) was scanned
    checkpoint_changed = Signal(str)  # the checkpoint loaded in Classify
    arch_changed = Signal(str)  # the architecture the Train form would train
    img_size_changed = Signal(int)  # the Train form's image size; 0: auto (the dataset's auto_img_size)
    val_split_changed = Signal(float)  # the Train form's validation share, 0..1
    devices_changed = Signal(object)  # {"auto"|"cpu"|"cuda"|"mps": readable name, or None where absent}
    file_unreadable = Signal(str, str)  # path, reason: a file that training (or anyone) could not read
    files_changed = Signal(str)  # dataset root: a fix or Classify's feedback moved or added files there
    retrain_requested = Signal()  # "Retrain" after fixing the data (the window starts the Train tab's run)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset: ScanResult | None = None
        self.checkpoint: str | None = None
        self.arch: str = DEFAULTS.arch
        self.img_size: int = 0
        self.val_split: float = DEFAULTS.val_split
        self.devices: dict[str, str | None] = {}

    def set_dataset(self, result: ScanResult) -> None:
        self.dataset = result
        self.dataset_changed.emit(result)

    def set_checkpoint(self, path: str) -> None:
        self.checkpoint = path
        self.checkpoint_changed.emit(path)

    def set_arch(self, arch: str) -> None:
        if arch and arch != self.arch:
            self.arch = arch
            self.arch_changed.emit(arch)

    def set_img_size(self, px: int) -> None:
        if px != self.img_size:
            self.img_size = px
            self.img_size_changed.emit(px)

    def set_val_split(self, share: float) -> None:
        if abs(share - self.val_split) > 1e-9:
            self.val_split = share
            self.val_split_changed.emit(share)

    def set_devices(self, names: dict[str, str | None]) -> None:
        self.devices = dict(names)
        self.devices_changed.emit(self.devices)

    def report_files_changed(self, root: str) -> None:
        self.files_changed.emit(root)

    def request_retrain(self) -> None:
        self.retrain_requested.emit()

    def report_unreadable(self, path: str, reason: str) -> None:
        """A file could not be read (training skipped it): the Dataset tab lists it with its problems."""
        self.file_unreadable.emit(path, reason)
