"""Evaluation results under the Train tab: confusion heatmap, per-class table and an error gallery.

Fed with an engine `EvalResult` (the `EvalDone` event at the end of a run), it only draws and filters:
clicking a confusion cell lists that cell's images; the gallery sorts by loss or confidence (hardest or
most confidently wrong first: likely mislabels); the listed files open in Classify, copy as paths or
export as CSV. Thumbnails load off the GUI thread (the Dataset tab's ThumbnailModel + ImageLoader).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine.verdict import Verdict, judge
from resnet_gui.format import fmt_pct
from resnet_gui.ui.common import button, error_text, hrow, side_by_side
from resnet_gui.ui.dataset.widgets import THUMB, thumbnail_grid
from resnet_gui.ui.jobs import evaluate_in_background
from resnet_gui.ui.train.confusion import ConfusionMatrixView
from resnet_gui.ui.train.gallery import CellDelegate, GalleryModel, NumberItem
from resnet_gui.ui.train.gallery_fixes import attach_gallery_fixes
from resnet_gui.ui.train.reliability import ReliabilityButton, calibration_text
from resnet_gui.ui.train.result_box import WARN_STYLE
from resnet_gui.ui.workers import ImageLoader, LatestJob

if TYPE_CHECKING:
    from resnet_gui.engine.evaluate import EvalResult

SORTS = (
    ("confidence", "Most confident first"),
    ("loss", "Highest loss first (hardest)"),
    ("least", "Least confident first"),
)
SHOWS = (("wrong", "Misclassified"), ("all", "All evaluated images"))
SIDE_BY_SIDE_BELOW = 460  # px: a shorter panel puts the matrix beside the per-class table
EVAL_HEIGHT = (300, 480)  # px: what the Evaluation tab is given when a run's result arrives (min, max)
MIN_HEIGHT = 120  # px: below the evaluation's own minimum, the splitter above it may still give it less
HEADERS = ("Class", "Precision", "Recall", "F1", "Images")
CSV_COLUMNS = ("path", "true", "predicted", "confidence", "true_class_prob", "loss")


def evaluation_sizes(total: int, top_min: int) -> list[int]:
    """The Train tab's splitter when the Evaluation tab opens: about 45% of `total` for it, within
    EVAL_HEIGHT, and never less than `top_min` for the curves above."""
    lo, hi = EVAL_HEIGHT
    bottom = max(lo, min(hi, int(total * 0.45)))
    top = max(top_min, total - bottom)
    return [top, max(0, total - top)]


def _table_width(table: QTableWidget) -> int:
    """Wide enough for every column of the per-class table (a short class name, four numbers)."""
    fm = table.fontMetrics()
    numbers = sum(max(fm.horizontalAdvance(h), fm.horizontalAdvance("0.000")) + 18 for h in HEADERS[1:])
    return fm.horizontalAdvance("class name") + numbers + table.verticalScrollBar().sizeHint().width() + 8


class EvalResultsPanel(QWidget):
    """Summary line, confusion heatmap and per-class table on the left, the image gallery on the right."""

    open_in_classify = Signal(list, str)  # paths, the evaluated checkpoint
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: EvalResult | None = None
        self.cell: tuple[int, int | None] | None = None  # (true, pred); pred None: the whole class
        self.checkpoint: str | None = None  # what "Evaluate" evaluates when there is no result yet
        self._job = LatestJob(self)
        self._cells: list[tuple[int, int]] = []  # (true, pred) class indices per record
        self._orders: dict[str, list[int]] = {}  # sort key -> record indices, once per result
        self.loader = ImageLoader(THUMB, threads=1, upscale=True, parent=self)
        self.model = GalleryModel(self.loader, self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = ConfusionMatrixView()
        self.confusion.setToolTip("")
        self.confusion.cell_clicked.connect(self.filter_cell)
        self.confusion.cleared.connect(self.clear_cell)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.horizontalHeaderItem(4).setToolTip("Support: validation images of this class")
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setSortingEnabled(True)
        self.table.setToolTip("Click a class to list its images in the gallery")
        self.table.cellClicked.connect(self._on_class_clicked)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 5):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(_table_width(self.table))  # a cell filter must not squeeze F1 away

        left = self.left_split = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.confusion)
        left.addWidget(self.table)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setChildrenCollapsible(False)

        self.show_combo = QComboBox()
        for key, text in SHOWS:
            self.show_combo.addItem(text, key)
        self.show_combo.currentIndexChanged.connect(self._on_show_changed)
        self.sort_combo = QComboBox()
        for key, text in SORTS:
            self.sort_combo.addItem(text, key)
        self.sort_combo.setToolTip(
            "Most confident first puts likely mislabels on top; highest loss first the hardest images."
        )
        self.sort_combo.currentIndexChanged.connect(self.refresh_gallery)
        for combo in (self.show_combo, self.sort_combo):  # room for the filter text beside them
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.cell_label = QLabel()
        # what the gallery is filtered to: it takes the spare width and never widens the pane
        self.cell_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cell_clear = QPushButton("Show all")
        self.cell_clear.setToolTip("Forget the class or confusion-cell filter")
        self.cell_clear.clicked.connect(self.clear_cell)
        tools = QHBoxLayout()
        tools.addWidget(self.show_combo)  # the items say what they do: no "Show"/"Sort" labels needed
        tools.addWidget(self.sort_combo)
        tools.addStretch(1)
        tools.addWidget(self.cell_clear)

        self.gallery = thumbnail_grid(QSize(THUMB + 64, THUMB + 42))
        self.gallery.setModel(self.model)
        self.gallery.setItemDelegate(CellDelegate(QSize(THUMB + 56, THUMB + 36), self.gallery))
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.gallery.doubleClicked.connect(self._on_double_clicked)
        self.gallery.selectionModel().selectionChanged.connect(self._update_buttons)
        copy = QShortcut(QKeySequence.StandardKey.Copy, self.gallery)
        copy.setContext(Qt.ShortcutContext.WidgetShortcut)
        copy.activated.connect(self.copy_paths)
        self.fixes = attach_gallery_fixes(self)  # ui/train/gallery_fixes.py: Move to class ▸ / Remove / Keep

        self.count_label = QLabel()  # "5 images · true cat, predicted dog": takes what room is left
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.open_button = button(
            "Open in Classify",
            self._open_in_classify,
            "Classify the selected images (or all listed) with this model",
        )
        self.copy_button = button(
            "Copy Paths",
            self.copy_paths,
            "Copy the selected (or all listed) files' paths, one per line (Ctrl+C)",
        )
        self.export_button = button(
            "Export CSV…",
            self.choose_export,
            "Save the listed images with true/predicted class, confidence and loss",
        )
        actions = hrow(self.count_label, self.open_button, self.copy_button, self.export_button)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addLayout(tools)
        rv.addWidget(self.gallery, 1)
        rv.addLayout(actions)

        split = self.split = side_by_side(left, right, stretch=(2, 3), sizes=[380, 520])
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.evaluate_button = button(
            "Evaluate the Best Model",
            self.evaluate,
            "Measure it on the run's validation images (off the GUI thread)",
        )
        self.reliability = ReliabilityButton(self)  # shown when the model is calibrated
        layout.addLayout(hrow(self.summary, self.reliability, self.evaluate_button))
        layout.addWidget(split, 1)
        # the Train tab's plots keep their room on a small screen: this tab (and the log) give way first
        self.setMinimumHeight(MIN_HEIGHT)
        self.clear()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        """Short and wide (a 720-line screen): the matrix beside its table, so it gets the full height."""
        wide = self.height() < SIDE_BY_SIDE_BELOW and self.width() > 2.2 * self.height()
        want = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        switched = self.left_split.orientation() != want
        if switched:
            self.left_split.setOrientation(want)
            # side by side, extra width goes to the gallery; stacked, to both sides as before
            self.split.setStretchFactor(0, 0 if wide else 2)
            self.split.setStretchFactor(1, 1 if wide else 3)
        if wide and (switched or event.oldSize().height() != event.size().height()):
            QTimer.singleShot(0, self, self._share_wide)  # once laid out: a square matrix, then the table
        super().resizeEvent(event)

    def _share_wide(self) -> None:
        matrix = max(self.confusion.minimumWidth(), self.left_split.height())
        table = self.table.minimumWidth() + 40  # room for the class names
        self.left_split.setSizes([matrix, table])
        left = matrix + table + self.left_split.handleWidth()
        self.split.setSizes([left, max(1, self.split.width() - left - self.split.handleWidth())])

    # --- data -------------------------------------------------------------------------------------
    def clear(self) -> None:
        self._job.cancel()  # its answer, if any, is for a model no longer shown
        self.result = None
        self.cell = None
        self.checkpoint = None
        self.evaluate_button.hide()
        self.reliability.set_calibration(None)
        self.summary.setText("The best model is evaluated on the validation images when a run finishes.")
        self.confusion.set_data([], [])
        self.table.setRowCount(0)
        self.model.set_records([], [])
        self._cells = []
        self._orders = {}
        self.refresh_gallery()

    def set_checkpoint(self, path: str | None) -> None:
        """The run's best model: offered for evaluation while no result is shown (e.g. a stopped run)."""
        self.checkpoint = path
        if path and self.result is None and not self._job.is_running():
            self.summary.setText("This run ended before its evaluation (stopped runs skip it).")
            self.evaluate_button.show()
            self.evaluate_button.setEnabled(True)

    def evaluate(self) -> None:
        """Evaluate `checkpoint` on a worker thread; the result fills the panel."""
        if not self.checkpoint or self._job.is_running():
            return
        self._job.start(
            evaluate_in_background,
            self.checkpoint,
            events=True,
            on_done=self._on_evaluated,
            on_error=self._on_evaluate_failed,
        )
        self.evaluate_button.setEnabled(False)
        self.summary.setText("Evaluating the best model on the validation images…")

    def _on_evaluated(self, result: EvalResult | None) -> None:
        self.evaluate_button.hide()
        if result is not None:
            self.set_result(result)

    def _on_evaluate_failed(self, exc: BaseException) -> None:
        self.evaluate_button.setEnabled(True)
        self.summary.setText("The evaluation failed.")
        self.error.emit(f"Evaluation failed: {error_text(exc)}")

    @staticmethod
    def _verdict(result: EvalResult) -> Verdict | None:
        return judge(len(result.classes), confusion=result.confusion_matrix)

    def set_result(self, result: EvalResult) -> None:
        """Show an engine EvalResult (with its per-image records)."""
        self.result = result
        self.evaluate_button.hide()
        self.cell = None
        wrong = len(result.misclassified)
        self.summary.setText(
            f"<b>Best model on {result.num_images} {result.split} images:</b> accuracy "
            f"{fmt_pct(result.accuracy).strip()} · loss {result.loss:.3f} · {wrong} misclassified"
            + (f" · {len(result.skipped)} unreadable skipped" if result.skipped else "")
            + (f'<br><span style="{WARN_STYLE}">⚠ {v.text}</span>' if (v := self._verdict(result)) else "")
            + calibration_text(getattr(result, "calibration", None))
        )
        self.reliability.set_calibration(getattr(result, "calibration", None))
        self.confusion.set_data(result.classes, result.confusion_matrix)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(result.per_class))
        for r, row in enumerate(result.per_class):
            name = QTableWidgetItem(row["class"])
            name.setData(Qt.ItemDataRole.UserRole, r)  # the class index, whatever the sort order
            cells = [
                name,
                *(NumberItem(row[k], f"{row[k]:.3f}") for k in ("precision", "recall", "f1")),
                NumberItem(row["support"], str(row["support"])),
            ]
            for c, item in enumerate(cells):
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # class order
        self.model.set_records(result.images, result.classes)
        index = {c: k for k, c in enumerate(result.classes)}
        self._cells = [(index[r["true"]], index[r["pred"]]) for r in result.images]
        self._orders = {}
        self.show_combo.setCurrentIndex(0)
        self.refresh_gallery()

    # --- filtering --------------------------------------------------------------------------------
    @Slot(int, int)
    def filter_cell(self, true: int, pred: int) -> None:
        """List the images of one confusion cell (true class, predicted class)."""
        if self.result is None:
            return
        self.cell = (true, pred)
        self.confusion.set_selected(self.cell)
        self.refresh_gallery()

    def filter_class(self, true: int) -> None:
        """List the images of one true class (all of them, or its misclassified ones, as Show says)."""
        if self.result is None:
            return
        self.cell = (true, None)
        self.confusion.set_selected(None)
        self.refresh_gallery()

    @Slot(int, int)
    def _on_class_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.filter_class(int(item.data(Qt.ItemDataRole.UserRole)))

    @Slot()
    def clear_cell(self) -> None:
        self.cell = None
        self.confusion.set_selected(None)
        self.refresh_gallery()

    def _on_show_changed(self) -> None:
        if self.cell is not None and self.cell[1] is not None:
            self.clear_cell()  # "Show" picks a new set; the cell filter would hide it
        else:
            self.refresh_gallery()

    def _order(self, key: str) -> list[int]:
        """All record indices sorted by `key`, computed once per result (a filter then keeps the order)."""
        if key not in self._orders:
            recs = self.model.records
            if key == "loss":
                self._orders[key] = sorted(range(len(recs)), key=lambda i: -recs[i]["loss"])
            elif key == "confidence":
                self._orders[key] = sorted(range(len(recs)), key=lambda i: -recs[i]["prob"])
            else:
                self._orders[key] = sorted(range(len(recs)), key=lambda i: recs[i]["prob"])
        return self._orders[key]

    def refresh_gallery(self) -> None:
        order = self._order(self.sort_combo.currentData())
        cells = self._cells
        if self.cell is not None and self.cell[1] is None:  # a class from the per-class table
            t = self.cell[0]
            wrong_only = self.show_combo.currentData() == "wrong"
            rows = [i for i in order if cells[i][0] == t and not (wrong_only and cells[i][1] == t)]
            what = f"true <b>{self.result.classes[t]}</b>" + (", misclassified" if wrong_only else "")
        elif self.cell is not None:
            t, p = self.cell
            rows = [i for i in order if cells[i] == (t, p)]
            what = f"true <b>{self.result.classes[t]}</b>, predicted <b>{self.result.classes[p]}</b>"
        elif self.show_combo.currentData() == "wrong":
            rows = [i for i in order if cells[i][0] != cells[i][1]]
            what = ""
        else:
            rows = list(order)
            what = ""
        self.model.show_rows(rows)
        self.cell_label.setText(what)  # shown in the count line under the gallery
        self.cell_clear.setVisible(self.cell is not None)
        n = len(rows)
        if self.result is None:
            self.count_label.setText("")
        elif n == 0:
            self.count_label.setText("No images here" if self.cell else "No misclassified images")
        else:
            self.count_label.setText(f"{n} image{'s' if n != 1 else ''}" + (f" · {what}" if what else ""))
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.model.rowCount() > 0
        for b in (self.open_button, self.copy_button, self.export_button):
            b.setEnabled(has)

    # --- actions ----------------------------------------------------------------------------------
    def listed_paths(self) -> list[str]:
        return [r["path"] for r in self.model.listed()]

    def chosen_paths(self) -> list[str]:
        """The selected images in list order, or all listed when none is selected."""
        rows = sorted(i.row() for i in self.gallery.selectionModel().selectedIndexes())
        if rows:
            return [self.model.record(r)["path"] for r in rows]
        return self.listed_paths()

    def copy_paths(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(self.chosen_paths()))

    def _open_in_classify(self) -> None:
        paths = self.chosen_paths()
        if paths and self.result is not None:
            self.open_in_classify.emit(paths, self.result.checkpoint)

    def _on_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid() and self.result is not None:
            self.open_in_classify.emit([self.model.record(index.row())["path"]], self.result.checkpoint)

    def choose_export(self) -> None:
        start = str(Path(self.result.checkpoint).with_name("errors.csv")) if self.result else "errors.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", start, "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """The listed images, in the order shown."""
        try:
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(CSV_COLUMNS)
                for r in self.model.listed():
                    w.writerow(
                        [
                            r["path"],
                            r["true"],
                            r["pred"],
                            f"{r['prob']:.6f}",
                            f"{r['true_prob']:.6f}",
                            f"{r['loss']:.6f}",
                        ]
                    )
        except OSError as exc:
            self.error.emit(f"Cannot write {path}: {exc.strerror or exc}")

    def is_busy(self) -> bool:
        return self._job.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()
        self.loader.shutdown()
