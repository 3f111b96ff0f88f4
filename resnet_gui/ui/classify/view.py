"""Classify tab: drop images (or a folder, or paste one) and read the answer and how long it took.

The engine's `Predictor` is loaded once per checkpoint and reused. Loading and classifying run off the
GUI thread (ui/jobs.py), each the newest request wins: a new drop cancels the batch before it between
images, and a drop made while a model loads waits for it. Each file is decoded once; its picture serves
the prediction, the thumbnail, the preview and Grad-CAM. Results stream into a sortable table; the
selected row shows the picture, the top-k bars and the timings.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.classify.detail import DetailPanel
from resnet_gui.ui.classify.drops import DropInputs
from resnet_gui.ui.classify.extras import BenchPanel, CamToggle
from resnet_gui.ui.classify.feedback import FeedbackBar
from resnet_gui.ui.classify.imagenet_menu import ImageNetPicker
from resnet_gui.ui.classify.live import LiveSources
from resnet_gui.ui.classify.widgets import (
    PREVIEW_SIDE,
    THUMB,
    DropZone,
    PictureCache,
    ResultsModel,
    count_text,
    empty_page,
    model_summary,
)
from resnet_gui.ui.common import IMAGE_FILTER, MessageBar, button, error_text, hrow
from resnet_gui.ui.jobs import Classified, Expanded, Row, classify_items, load_predictor
from resnet_gui.ui.state import AppState
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from resnet_gui.engine.infer.predict import Predictor

TOPK = 5
NO_MODEL = "No model loaded yet: train one on the Train tab, or open a checkpoint first."


class InferenceView(DropInputs, LiveSources, QWidget):
    """The Classify tab."""

    busy = Signal(str)
    checkpoint_loaded = Signal(str)
    predictions_done = Signal(int)  # how many inputs were classified
    error = Signal(str)
    go_train = Signal()
    open_checkpoint_requested = Signal()

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.state = state or AppState(self)
        self.predictor: Predictor | None = None
        self.checkpoint: str | None = None
        self._loads = LatestJob(self)  # checkpoints: the newest wins
        self._batches = LatestJob(self)  # classification batches: the newest drop wins
        self._waiting: list[str | QImage] | None = None  # a drop made while a model loads
        self._expected = 0  # images in the batch; -1 until its folders are expanded
        self._base = 0  # rows listed before the batch (Open Images adds to the list)
        self._errors: list[str] = []  # inputs of the batch that could not be classified
        self.pictures = PictureCache()  # decoded while classifying: the preview and Grad-CAM reuse them
        self.message = MessageBar()
        self.model_label = QLabel("No model loaded")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_ckpt = QPushButton("Open Checkpoint…")
        open_ckpt.clicked.connect(self.open_checkpoint_requested)
        self.open_images_button = QPushButton("Open Images…")
        self.open_images_button.setToolTip("Classify image files (or drop them, or paste one with Ctrl+V)")
        self.open_images_button.clicked.connect(self.choose_images)
        self.bench = BenchPanel()
        self.bench.hide()
        self.bench_button = QPushButton("Benchmark…")
        self.bench_button.setCheckable(True)
        self.bench_button.setEnabled(False)
        self.bench_button.setToolTip("How fast is this model on this machine? (latency and throughput)")
        self.bench_button.toggled.connect(self.bench.setVisible)
        self.setup_live_sources()  # camera / video buttons and page, the trust bar (ui/classify/live.py)
        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.bench_button)
        top.addWidget(self.camera_button)
        top.addWidget(self.video_button)
        top.addWidget(self.open_images_button)
        top.addWidget(open_ckpt)
        self.imagenet = ImageNetPicker()  # torchvision's ImageNet models beside trained checkpoints
        self.imagenet.chosen.connect(self.load_checkpoint)
        self.imagenet.error.connect(self._show_error)
        top.addWidget(self.imagenet)

        # empty state: no model yet
        empty = empty_page(self.go_train, self.open_checkpoint_requested)

        # drop zone (model loaded, nothing classified yet)
        self.drop_zone = DropZone(
            "<h2>Drop images here</h2><p>one or many files, or a whole folder</p>"
            "<p>or click here to choose them, or paste an image with <b>Ctrl+V</b></p>"
        )
        self.drop_zone.clicked.connect(self.choose_images)

        # results
        self.cam = CamToggle(self)
        self.detail = DetailPanel(self.cam, self.pictures)

        self.results = ResultsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.results)
        self.proxy.setSortRole(ResultsModel.SortRole)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until a header is clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, THUMB + 12)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.count_label = QLabel()
        self.export_button = button("Export CSV…", self.choose_export)
        self.clear_button = button("Clear", self.clear_results)
        tb = hrow(self.count_label, self.clear_button, self.export_button)
        lower = QWidget()
        lv = QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        self.feedback = FeedbackBar(self.state, self)  # ui/classify/feedback.py: Correct / Wrong, it is ▸
        self.video.set_dataset_hooks(self.feedback.dataset_classes, self.feedback.add_file)
        lv.addWidget(self.feedback)
        lv.addLayout(tb)
        lv.addWidget(self.table)
        results = QSplitter(Qt.Orientation.Vertical)
        results.addWidget(self.detail)
        results.addWidget(lower)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 2)

        self.pages = QStackedWidget()
        self.pages.addWidget(empty)  # 0
        self.pages.addWidget(self.drop_zone)  # 1
        self.pages.addWidget(results)  # 2
        self.loading = QLabel("Loading the model…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(self.loading)  # 3
        self.pages.addWidget(self.video)  # 4: a camera or a video file

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.trust_bar)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        layout.addWidget(self.message)
        layout.addWidget(self.imagenet.box)  # its download progress, while one runs
        layout.addWidget(self.bench)
        layout.addWidget(self.pages, 1)
        QShortcut(
            QKeySequence.StandardKey.Paste,
            self,
            self.paste,
            context=Qt.ShortcutContext.WindowShortcut,  # while this tab is shown, wherever the focus is
        )
        self._show_page()

    def _show_page(self) -> None:
        if self._loads.is_running() and self.predictor is None:
            self.pages.setCurrentIndex(3)
        elif self.predictor is None:
            self.pages.setCurrentIndex(0)
        elif self.results.rowCount() == 0 and self._expected == 0:
            self.pages.setCurrentIndex(1)
        else:
            self.pages.setCurrentIndex(2)
        if self.video.active and self.predictor is not None:
            self.pages.setCurrentIndex(4)
        self.camera_button.setEnabled(self.predictor is not None)
        self.video_button.setEnabled(self.predictor is not None)
        self.open_images_button.setEnabled(self.predictor is not None)
        self.export_button.setEnabled(self.results.rowCount() > 0)
        self.clear_button.setEnabled(self.results.rowCount() > 0)

    # --- checkpoint -------------------------------------------------------------------------------
    def load_checkpoint(self, path: str) -> None:
        """Load `path` off the GUI thread; the current model stays usable until it is ready."""
        path = str(path)
        if self._batches.is_running():  # its answers would be cleared with the old model anyway
            self._batches.cancel()
            self._expected = 0
            self._update_count()
        self.message.hide()
        self.busy.emit(f"Loading {Path(path).name}…")
        self.loading.setText(f"Loading {path}…")
        self._loads.start(
            load_predictor,
            path,
            on_done=partial(self._on_loaded, path),
            on_error=lambda exc: self._show_error(f"Cannot load {Path(path).name}: {error_text(exc)}"),
            on_finished=self._on_load_finished,
        )
        self._show_page()

    def _on_loaded(self, path: str, predictor: Predictor) -> None:
        if self.predictor is not None and self.results.rowCount():
            self.clear_results()  # those answers came from the previous model
        self.predictor = predictor
        self.checkpoint = path
        self.model_label.setText(model_summary(predictor.info()))
        self.model_label.setToolTip(path)
        self.cam.set_predictor(predictor)
        self.trust_bar.set_predictor(predictor)
        if self.video.active:  # its answers came from the previous model
            self.video.close_source()
        self.bench.set_checkpoint(path)
        self.bench_button.setEnabled(True)
        self.state.set_checkpoint(path)  # the Model tab and the window follow
        self.checkpoint_loaded.emit(path)
        self._show_page()

    def _on_load_finished(self) -> None:
        self.busy.emit("")
        items, self._waiting = self._waiting, None
        if items is not None:
            self._start_batch(items)
        else:
            self._show_page()

    # --- inputs -----------------------------------------------------------------------------------
    def classify(self, items: list[str | QImage], append: bool = False) -> None:
        """Classify files, folders and/or QImages (replaces the table; `append`: adds to it)."""
        if not items:
            return
        if self.predictor is None and not self._loads.is_running():
            self._show_error(NO_MODEL)
            return
        self.message.hide()
        if self._loads.is_running():
            self._batches.cancel()
            self._waiting = list(items)  # after the model has loaded; the newest drop wins
            return
        self._start_batch(items, append)

    def _start_batch(self, items: list[str | QImage], append: bool = False) -> None:
        if self.predictor is None:
            self._show_error(NO_MODEL)
            self._show_page()
            return
        if not append:
            self.results.clear()
            self.pictures.clear()
        self._base = self.results.rowCount()  # rows before this batch (Open Images adds)
        self._expected = -1
        self._errors = []
        self.busy.emit("Classifying…")
        self._batches.start(
            classify_items,
            self.predictor,
            list(items),
            TOPK,
            THUMB,
            PREVIEW_SIDE,
            events=True,
            on_event=self._on_predict_event,
            on_done=self._on_predicted,
            on_error=lambda exc: self._show_error(f"Classification failed: {error_text(exc)}"),
            on_finished=self._on_batch_finished,
        )
        self._show_page()

    def _on_batch_finished(self) -> None:
        self.busy.emit("")
        self._show_page()

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open Images", "", IMAGE_FILTER)
        if paths:
            self.classify(paths, append=True)  # a second pick adds to the list

    # --- results ----------------------------------------------------------------------------------
    def _on_predict_event(self, e: Expanded | Classified) -> None:
        if isinstance(e, Expanded):
            self._expected = self._base + e.total
            self.count_label.setText(f"Classifying {e.total} image{'s' if e.total != 1 else ''}…")
            self._show_page()
            return
        row = e.row
        if e.picture is not None and row.path:
            self.pictures.put(row.path, e.picture)
        self.results.append(row)
        if row.prediction.error:
            self._errors.append(f"{row.name}: {row.prediction.error}")
        shown = self.selected_row()
        if shown is None or (shown.prediction.error and not row.prediction.error):
            # show the first answer at once; prefer an answer over an error
            index = self.proxy.mapFromSource(self.results.index(self.results.rowCount() - 1, 0)).row()
            self.table.selectRow(index)
            self._show_row(row)
        self._update_count()

    def _on_predicted(self, n: int) -> None:
        self._expected = 0
        self._update_count()
        if self._errors:
            more = f" (and {len(self._errors) - 1} more)" if len(self._errors) > 1 else ""
            self._show_error(f"Could not classify {self._errors[0]}{more}")
        if self.results.rowCount() == 0:
            self._show_error("Nothing to classify: no images found there.")
        self._show_page()
        self.predictions_done.emit(n)

    def _update_count(self) -> None:
        self.count_label.setText(count_text(self.results.rows, self._expected))

    def clear_results(self) -> None:
        self.results.clear()
        self._expected = 0
        self.pictures.clear()
        self.detail.clear()
        self._show_page()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._show_row(self.results.rows[self.proxy.mapToSource(current).row()])

    def selected_row(self) -> Row | None:
        idx = self.table.selectionModel().currentIndex()
        return self.results.rows[self.proxy.mapToSource(idx).row()] if idx.isValid() else None

    def _show_row(self, row: Row) -> None:
        self.feedback.show_row(row)
        self.detail.show_row(row, self.predictor.device_name if self.predictor is not None else "")

    # --- export -----------------------------------------------------------------------------------
    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "predictions.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """The table as CSV: one row per input, top-k as class:prob pairs, timings in ms."""
        from dataclasses import replace

        from resnet_gui.engine.infer.predict import write_predictions_csv

        try:
            write_predictions_csv(
                (replace(r.prediction, path=r.path or r.name) for r in self.results.rows), path
            )
        except OSError as exc:
            self._show_error(f"Cannot write {path}: {exc.strerror or exc}")

    # --- misc -------------------------------------------------------------------------------------
    def _show_error(self, text: str) -> None:
        self.message.show_message(text)
        self.error.emit(text)

    def is_busy(self) -> bool:
        return (
            self._loads.is_running()
            or self._batches.is_running()
            or self.cam.is_busy()
            or self.bench.is_running()
            or self.imagenet.is_busy()
            or self.video.is_running()
        )

    def shutdown(self) -> None:
        self._waiting = None
        self._loads.shutdown()
        self._batches.shutdown()
        self.cam.shutdown()
        self.bench.shutdown()
        self.detail.shutdown()
        self.imagenet.shutdown()
        self.video.shutdown()
