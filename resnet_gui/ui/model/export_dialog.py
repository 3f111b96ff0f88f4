"""File > Export Model…: save a checkpoint as ONNX or TorchScript (the app's `resnet-gui export`).

"int8" (ONNX only) quantises with ONNX Runtime, calibrated on a data folder's training images when one is
given (by default the folder the run trained on, from its run.json), and shows the size, latency and
top-1 agreement against the fp32 export (`export --int8`).

The export runs on a Worker; the dialog says which file was written, how big it is, and that the class
names and preprocessing travel inside it. While it runs the dialog cannot be closed (a few seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.common import CHECKPOINT_FILTER, error_text
from resnet_gui.ui.jobs import run_export
from resnet_gui.ui.jobs_tools import run_export_int8
from resnet_gui.ui.workers import LatestJob

FORMATS = {  # key: (label, suffix, file-dialog filter)
    "onnx": ("ONNX (.onnx): ONNX Runtime, OpenCV, TensorRT, …", ".onnx", "ONNX models (*.onnx)"),
    "torchscript": (
        "TorchScript (.pt): PyTorch / LibTorch without Python code",
        ".torchscript.pt",
        "TorchScript (*.pt)",
    ),
}


def default_output(checkpoint: str, fmt: str, int8: bool = False) -> str:
    """The engine's default: beside the checkpoint, e.g. best.safetensors -> best.onnx (best.int8.onnx)."""
    p = Path(checkpoint)
    suffix = ".int8.onnx" if int8 and fmt == "onnx" else FORMATS[fmt][1]
    return str(p.with_name(p.name.split(".")[0].replace(":", "-") + suffix))


def training_data_of(checkpoint: str) -> str:
    """The data folder the checkpoint's run trained on (its run.json), if it still exists; else ''."""
    from resnet_gui.engine.runs import load_run

    try:
        run = load_run(checkpoint) if checkpoint and Path(checkpoint).exists() else None
    except (OSError, ValueError):
        run = None
    return run.data_dir if run is not None and run.data_dir and Path(run.data_dir).is_dir() else ""


class ExportDialog(QDialog):
    """Pick a checkpoint, a format and a file; export off the GUI thread."""

    exported = Signal(str)

    def __init__(self, checkpoint: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export Model")
        self.setMinimumWidth(620)
        self._job = LatestJob(self)
        self._out_edited = False
        self.written: str | None = None
        self.report: Any = None  # the last int8 export's QuantReport

        self.checkpoint = QLineEdit(checkpoint or "")
        self.checkpoint.setPlaceholderText("a .safetensors, .pt or .pth checkpoint")
        self.checkpoint.textChanged.connect(self._suggest_output)
        browse_ckpt = QPushButton("Browse…")
        browse_ckpt.clicked.connect(self._choose_checkpoint)
        self.format = QComboBox()
        for key, (label, _suffix, _filter) in FORMATS.items():
            self.format.addItem(label, key)
        self.format.currentIndexChanged.connect(self._suggest_output)
        self.output = QLineEdit()
        self.output.textEdited.connect(self._on_output_edited)
        browse_out = QPushButton("Browse…")
        browse_out.clicked.connect(self._choose_output)
        self.int8 = QCheckBox("int8: quantised with ONNX Runtime (about 4x smaller; ONNX only)")
        self.int8.toggled.connect(self._suggest_output)
        self.calibration = QLineEdit()
        self.calibration.setPlaceholderText("data folder to calibrate on (empty: dynamic quantisation)")
        self.calibration.setToolTip(
            "Static quantisation calibrated on a sample of its training images; the report uses its "
            "validation images"
        )
        self._calibration_row = QWidget()
        calib_row = QHBoxLayout(self._calibration_row)
        calib_row.setContentsMargins(0, 0, 0, 0)
        browse_calib = QPushButton("Browse…")
        browse_calib.clicked.connect(self._choose_calibration)
        calib_row.addWidget(self.calibration, 1)
        calib_row.addWidget(browse_calib)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.checkpoint, 1)
        row.addWidget(browse_ckpt)
        form.addRow("Checkpoint", row)
        form.addRow("Format", self.format)
        form.addRow("", self.int8)
        form.addRow("Calibration", self._calibration_row)
        row = QHBoxLayout()
        row.addWidget(self.output, 1)
        row.addWidget(browse_out)
        form.addRow("Save as", row)

        note = QLabel(
            "The class names, the input size and the preprocessing (resize, centre crop, mean and std) "
            "are stored inside the file, so another program can reproduce this app's answers."
        )
        note.setWordWrap(True)
        note.setEnabled(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.start_export)  # Export does not close the dialog
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self._suggest_output()

    # --- inputs -----------------------------------------------------------------------------------
    def fmt(self) -> str:
        return str(self.format.currentData())

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex(self.format.findData(fmt))

    def _on_output_edited(self, _text: str) -> None:
        self._out_edited = True

    def _suggest_output(self, *_args: Any) -> None:
        ckpt = self.checkpoint.text().strip()
        onnx = self.fmt() == "onnx"
        self.int8.setEnabled(onnx)
        self._calibration_row.setEnabled(onnx and self.int8.isChecked())
        if ckpt and not self.calibration.text():
            self.calibration.setText(training_data_of(ckpt))
        if ckpt and not self._out_edited:
            self.output.setText(default_output(ckpt, self.fmt(), self.is_int8()))
        self.export_button.setEnabled(bool(ckpt) and not self.is_running())

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Checkpoint to export", self.checkpoint.text(), CHECKPOINT_FILTER
        )
        if path:
            self.checkpoint.setText(path)

    def is_int8(self) -> bool:
        return self.fmt() == "onnx" and self.int8.isChecked()

    def _choose_calibration(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Calibration images", self.calibration.text())
        if path:
            self.calibration.setText(path)

    def _choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save exported model", self.output.text(), FORMATS[self.fmt()][2]
        )
        if path:
            self.output.setText(path)
            self._out_edited = True

    # --- export -----------------------------------------------------------------------------------
    def start_export(self) -> None:
        ckpt, out = self.checkpoint.text().strip(), self.output.text().strip()
        if self.is_running():
            return
        if not ckpt or not Path(ckpt).is_file():
            self._show_status(f"The checkpoint {ckpt or '(none)'} does not exist.", error=True)
            return
        if not out:
            self._show_status("Choose where to save the exported model.", error=True)
            return
        if not Path(out).parent.is_dir():
            self._show_status(f"The folder {Path(out).parent} does not exist.", error=True)
            return
        calib = self.calibration.text().strip()
        if self.is_int8() and calib and not Path(calib).is_dir():
            self._show_status(f"The calibration folder {calib} does not exist.", error=True)
            return
        self._show_status(
            f"Exporting to {Path(out).name}…"
            + (" (int8: quantising and measuring)" if self.is_int8() else "")
        )
        self.export_button.setEnabled(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setEnabled(False)
        fn, args = (
            (run_export_int8, (ckpt, out, calib)) if self.is_int8() else (run_export, (ckpt, self.fmt(), out))
        )
        self._job.start(
            fn,
            *args,
            on_done=self._on_done,
            on_error=self._on_failed,
            on_finished=self._on_finished,
        )

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b3261e;" if error else "")
        self.status.setText(text)

    def _on_done(self, result: Any) -> None:
        if isinstance(result, tuple):
            path, size = result
            self._show_status(f"Wrote <b>{path}</b> ({size / 2**20:.1f} MB).")
        else:  # an int8 QuantReport
            self.report = result
            path = result.path
            self._show_status(f"Wrote <b>{path}</b><br>" + "<br>".join(result.lines()))
        self.written = path
        self.exported.emit(path)

    def _on_failed(self, exc: BaseException) -> None:
        self._show_status(f"Export failed: {error_text(exc)}", error=True)

    def _on_finished(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setEnabled(True)
        self._suggest_output()

    def is_running(self) -> bool:
        return self._job.is_running()

    def reject(self) -> None:
        if self.is_running():  # Escape while exporting: wait for the file to be complete
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.is_running():
            event.ignore()
            return
        super().closeEvent(event)

    def shutdown(self) -> None:
        """The app is closing: wait for an export in progress (its file is written atomically)."""
        self._job.shutdown()
