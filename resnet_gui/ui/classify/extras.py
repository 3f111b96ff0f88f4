"""Classify tab extras: the Grad-CAM toggle over the picture, and the "Benchmark this model" panel.

Both run their engine calls (ui/jobs.py) off the GUI thread, one job at a time each; for Grad-CAM the
newest selection wins. Grad-CAM uses the view's loaded Predictor model and the picture the view decoded
when it classified the file: the engine explains without hooks or any other state on the model, so it
may run beside a classification batch. The benchmark loads its own copy of the checkpoint, so it never
touches the model the view classifies with.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.format import fmt_pct
from resnet_gui.ui.classify.widgets import PREVIEW_SIDE
from resnet_gui.ui.common import error_text
from resnet_gui.ui.jobs import compute_cam, run_bench
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from PIL import Image

    from resnet_gui.engine.infer.bench import BenchProgress
    from resnet_gui.engine.infer.predict import Predictor
    from resnet_gui.ui.jobs import Row

    CamSource = Image.Image | QImage | str  # the decoded picture, a pasted image, or a file
    CamKey = tuple[int, str | int]  # (id of the predictor, the file or id of the pasted image)

CAM_MAX_SIDE = PREVIEW_SIDE  # the overlay is made at screen size, like the preview
CAM_CACHE = 32


class CamToggle(QObject):
    """The "Show where the model looked" check box and the Grad-CAM jobs behind it.

    The view calls `set_predictor` when a model loads and `show_row(row, source)` when a result is
    selected (`source`: the picture it decoded, the pasted image, or the file);
    `overlay_ready(QImage)` asks it to show an overlay, `restore()` to show the plain picture again.
    """

    overlay_ready = Signal(QImage)
    restore = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.checkbox = QCheckBox("Show where the model looked (Grad-CAM)")
        self.checkbox.setToolTip(
            "Colours the parts of the picture that raised the score of the predicted class most "
            "(red: strongly, blue: not at all), from the last convolutional stage. Computed in the background."
        )
        self.checkbox.setEnabled(False)
        self.checkbox.toggled.connect(self._on_toggled)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setEnabled(False)
        self.caption.hide()
        self.predictor: Predictor | None = None
        self._row: Row | None = None
        self._source: CamSource | None = None
        self._job = LatestJob(self)
        self._cache: OrderedDict[CamKey, tuple[QImage, dict]] = OrderedDict()

    # --- inputs from the view ---------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor | None) -> None:
        self.predictor = predictor
        self._cache.clear()
        self._job.cancel()  # an overlay of the previous model
        self._row = self._source = None  # the results of the previous model are cleared
        self.caption.hide()
        self.checkbox.setEnabled(predictor is not None)

    def show_row(self, row: Row, source: CamSource | None) -> None:
        """A result was selected: explain it if the toggle is on (from the cache when done before)."""
        self._row, self._source = row, source
        self._job.cancel()  # the newest selection wins
        self.caption.hide()
        if self.checkbox.isChecked():
            QTimer.singleShot(0, self, self._request)  # after the view has drawn the plain picture

    def is_shown(self, path: str | None) -> bool:
        """True when the overlay for `path` is what the picture shows (so a late plain preview waits)."""
        return (
            self.checkbox.isChecked()
            and self._row is not None
            and self._row.path == path
            and self._key(self._row) in self._cache
        )

    def is_busy(self) -> bool:
        return self._job.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()

    # --- jobs -------------------------------------------------------------------------------------
    def _key(self, row: Row) -> CamKey:
        return (id(self.predictor), row.path if row.path else id(row.image))

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        if on:
            self._request()
        else:
            self._job.cancel()
            self.caption.hide()
            self.restore.emit()

    def _request(self) -> None:
        row, source = self._row, self._source
        if row is None or source is None or self.predictor is None or row.prediction.error:
            return
        key = self._key(row)
        if key in self._cache:
            self._cache.move_to_end(key)
            self._show(*self._cache[key])
            return
        self.caption.setText("Computing Grad-CAM…")
        self.caption.show()
        self._job.start(
            compute_cam,
            self.predictor,
            source,
            CAM_MAX_SIDE,
            on_done=partial(self._on_done, key),
            on_error=self._on_failed,
        )

    def _on_done(self, key: CamKey, result: tuple[QImage, dict]) -> None:
        self._cache[key] = result
        while len(self._cache) > CAM_CACHE:
            self._cache.popitem(last=False)
        if self._row is not None and self._key(self._row) == key and self.checkbox.isChecked():
            self._show(*result)

    def _on_failed(self, exc: BaseException) -> None:
        self.caption.setText(f"Grad-CAM failed: {error_text(exc)}")
        self.caption.show()
        self.failed.emit(error_text(exc))

    def _show(self, image: QImage, info: dict) -> None:
        h, w = info["cam_size"]
        p = self._row.prediction if self._row is not None else None
        # the row's own number (the same model call; with the mirror option on, the averaged one)
        prob = p.confidence if p is not None and p.label == info["class"] else info["prob"]
        self.caption.setText(
            f"Grad-CAM for <b>{info['class']}</b> ({fmt_pct(prob)}) from {info['layer']} "
            f"({w}×{h} cells): red is where it looked most."
        )
        self.caption.show()
        self.overlay_ready.emit(image)


class BenchPanel(QFrame):
    """ "Benchmark this model": forward-pass latency p50/p95, throughput, and on CUDA AMP and memory."""

    bench_done = Signal(object)  # the engine's result dict (partial when cancelled), or None on failure

    HEADERS = ("Precision", "Batch", "p50 ms", "p95 ms", "img/s", "Peak MB")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.checkpoint: str | None = None
        self._job = LatestJob(self)
        self.result: dict | None = None

        title = QLabel("<b>Benchmark this model</b>")
        self.sizes = QLineEdit("1,8,32")
        self.sizes.setMaximumWidth(110)
        self.sizes.setToolTip("Batch sizes to time, separated by commas")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Time the forward pass on random images at the model's input size")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.status = QLabel(
            "Times the forward pass alone (no file reading) after a warm-up: the median (p50) and "
            "slow (p95) batch, and images per second."
        )
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(self.HEADERS))
        self.table.setHorizontalHeaderLabels(list(self.HEADERS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.hide()

        row = QHBoxLayout()
        row.addWidget(title)
        row.addStretch(1)
        row.addWidget(QLabel("Batch sizes"))
        row.addWidget(self.sizes)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        self.set_checkpoint(None)

    def set_checkpoint(self, path: str | None) -> None:
        self.checkpoint = path
        self.run_button.setEnabled(path is not None and not self.is_running())

    def batch_sizes(self) -> list[int] | None:
        try:
            sizes = [int(s) for s in self.sizes.text().replace(" ", "").split(",") if s]
        except ValueError:
            return None
        return sizes if sizes and all(0 < s <= 4096 for s in sizes) else None

    def run(self) -> None:
        if self.checkpoint is None or self.is_running():
            return
        sizes = self.batch_sizes()
        if sizes is None:
            self.status.setText("Batch sizes must be whole numbers from 1 to 4096, like 1,8,32.")
            return
        self.table.setRowCount(0)
        self._fit_table()
        self.table.show()
        self.result = None
        self.status.setText(f"Benchmarking {Path(self.checkpoint).name}…")
        self._job.start(
            run_bench,
            self.checkpoint,
            sizes,
            events=True,
            on_event=self._on_progress,
            on_done=self._on_done,
            on_error=self._on_failed,
            on_finished=self._on_finished,
        )
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

    def cancel(self) -> None:
        if self.is_running():
            self._job.stop()  # the rows measured so far still arrive, marked stopped
            self.status.setText("Stopping after this pass…")

    def is_running(self) -> bool:
        return self._job.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()

    def _on_progress(self, e: BenchProgress) -> None:
        r = e.row
        mem = "n/a (CPU)" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        cells = (
            r["precision"].upper(),
            str(r["batch_size"]),
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['img_per_s']:.1f}",
            mem,
        )
        n = self.table.rowCount()
        self.table.insertRow(n)
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(n, col, item)
        self.status.setText(f"Benchmarking… {e.done} of {e.total} done")
        self._fit_table()

    def _fit_table(self) -> None:
        """As tall as its rows (up to six), so the panel takes no more room than it needs."""
        shown = max(1, min(6, self.table.rowCount()))
        rows = sum(self.table.rowHeight(i) for i in range(shown)) if self.table.rowCount() else 24
        self.table.setFixedHeight(self.table.horizontalHeader().height() + rows + 2 * self.table.frameWidth())

    def _on_done(self, result: dict) -> None:
        self.result = result
        rows = result["rows"]
        how = "Cancelled" if result["stopped"] else "Done"
        best = max(rows, key=lambda r: r["img_per_s"]) if rows else None
        text = f"{how}: {result['arch']} at {result['img_size']} px on {result['device_name']}"
        if best is not None:
            text += f"; best {best['img_per_s']:.0f} img/s at batch {best['batch_size']}"
        self.status.setText(text + ".")
        self.bench_done.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self.status.setText(f"Benchmark failed: {error_text(exc)}")
        self.bench_done.emit(None)

    def _on_finished(self) -> None:
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(self.checkpoint is not None)
