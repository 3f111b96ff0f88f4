"""Train tab: settings on the left; progress, live curves, the epoch log and the result on the right.

Start builds an engine `TrainConfig` and runs `engine.train.train` on a Worker thread; every engine
event arrives here as a signal and only moves a widget. Stop sets the engine's stop flag.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QDoubleValidator, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import (
    ARCHS,
    AUGMENT_PRESETS,
    BATCH_SIZE_MAX,
    DEFAULTS,
    DEVICES,
    EPOCHS_MAX,
    IMG_SIZE_RANGE,
    arch_label,
)
from resnet_gui.ui.common import (
    CHECKPOINT_FILTER,
    MessageBar,
    error_text,
    fmt_count,
    fmt_duration,
    fmt_pct,
    heading,
    mono_font,
    settings,
)
from resnet_gui.ui.train.eval_results import EvalResultsPanel
from resnet_gui.ui.train.plots import TrainingPlots
from resnet_gui.ui.train.run_compare import RunCompareBar
from resnet_gui.ui.workers import Worker, lower_thread_priority

# DataLoader workers must not be forked from this process: it runs Qt threads (a fork copies their locks).
WORKER_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None

PRETRAINED_NONE, PRETRAINED_IMAGENET, PRETRAINED_FILE = 0, 1, 2


def model_facts(on_event: Any, stop: Any) -> None:
    """Params/GFLOPs and ImageNet-weights availability per architecture (builds models: off-thread)."""
    from resnet_gui.engine.model import build as models

    for arch in models.ARCHS:
        if stop.is_set():
            return
        facts: dict[str, Any] = {"arch": arch, "imagenet": models.imagenet_weights_available(arch)}
        facts["imagenet_file"] = str(models.imagenet_weights_file(arch))
        try:
            facts.update(models.arch_summary(arch))
        except Exception as exc:  # the form still works without the numbers
            facts["error"] = str(exc)
        on_event(facts)


def train_in_background(config: Any, on_event: Any, stop: Any) -> Any:
    """The engine's train(), at a lower CPU priority than the window (Linux), on the worker thread."""
    from resnet_gui.engine.train.loop import train

    lower_thread_priority()
    return train(config, on_event, stop)


def default_runs_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".resnet-gui") / "runs"


class TrainingView(QWidget):
    """The Train tab."""

    busy = Signal(str)  # status-bar text; "" when idle
    engine_event = Signal(object)  # every engine event, after the view has drawn it
    running_changed = Signal(bool)
    run_finished = Signal(object)  # TrainResult, or None when the run failed
    use_checkpoint = Signal(str)  # "Use in Classify"
    val_split_changed = Signal(float)
    error = Signal(str)

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.num_workers: int | None = None  # DataLoader workers; None lets the engine choose
        self.dataset: Any = None  # ScanResult from the Dataset tab
        self.result: Any = None  # last TrainResult
        self.checkpoints: dict[str, str] = {}  # kind -> path, from CheckpointSaved
        self._worker: Worker | None = None
        self._facts_worker: Worker | None = None
        self._config: Any = None
        self._run_result: Any = None
        self._run_error: str | None = None
        self._start_epoch = 0
        self._steps = 1
        self._epochs = 1
        self._skipped = 0
        self._pretrained_file = ""
        self._imagenet: dict[str, tuple[bool, str]] = {}
        self._facts: dict[str, dict] = {}
        self._build()
        self.load_settings()
        self._update_enabled()

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.arch = QComboBox()
        for a in ARCHS:
            self.arch.addItem(arch_label(a), a)
        self.arch.setToolTip("Deeper networks can learn more but train slower. ResNet-18 is a good start.")

        self.arch.currentIndexChanged.connect(self._update_pretrained_items)
        self.arch_facts = QLabel(" ")
        self.arch_facts.setEnabled(False)
        self.arch_facts.setWordWrap(True)

        self.pretrained = QComboBox()
        self.pretrained.addItems(["None (train from scratch)", "ImageNet", "From file…"])
        self.pretrained.setToolTip(
            "Start from weights learned on another dataset: learns faster from few images."
        )
        self.pretrained.activated.connect(self._on_pretrained_activated)
        self.pretrained.currentIndexChanged.connect(self._update_enabled)
        self.pretrained_hint = QLabel()
        self.pretrained_hint.setWordWrap(True)
        self.pretrained_hint.setEnabled(False)
        self.pretrained_hint.hide()
        self.freeze = QCheckBox("Freeze backbone")
        self.freeze.setToolTip(
            "Train only the last layer: fast, and good with few images when starting from pretrained weights."
        )

        self.epochs = QSpinBox()
        self.epochs.setRange(1, EPOCHS_MAX)
        self.epochs.setToolTip("Passes over the training images.")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, BATCH_SIZE_MAX)
        self.batch_size.setToolTip("Images per step. Lower it if you run out of memory.")
        self.lr = QLineEdit()
        self.lr.setPlaceholderText("auto")
        validator = QDoubleValidator(0.0, 10.0, 8, self.lr)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr.setValidator(validator)
        self.lr.setToolTip("Learning rate; leave empty to use the recipe's value for this batch size.")
        self.img_size = QSpinBox()
        self.img_size.setRange(0, IMG_SIZE_RANGE[1])
        self.img_size.setSingleStep(32)
        self.img_size.setSuffix(" px")
        self.img_size.setSpecialValueText("auto")
        self.img_size.setToolTip("Images are resized to this square size. Auto picks it from your images.")
        self.val_split = QSpinBox()
        self.val_split.setRange(0, 90)
        self.val_split.setSuffix(" %")
        self.val_split.setToolTip("Share of each class held out to measure accuracy on unseen images.")
        self.val_split.valueChanged.connect(lambda v: self.val_split_changed.emit(v / 100.0))
        self.augment = QComboBox()
        self.augment.addItems(list(AUGMENT_PRESETS))
        self.augment.setToolTip("Random flips, crops and colour changes so the model sees more variety.")
        self.device = QComboBox()
        for name in DEVICES:
            self.device.addItem(name, name)
        self.device.setToolTip("Where to train. Auto uses a GPU when there is one.")

        for combo in (self.arch, self.pretrained, self.augment, self.device):
            # long item texts (params, file names, GPU names) must not widen the panel
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)

        model_box = QGroupBox("Model")
        mf = QFormLayout(model_box)
        mf.addRow("Architecture", self.arch)
        mf.addRow("", self.arch_facts)
        mf.addRow("Pretrained", self.pretrained)
        mf.addRow("", self.pretrained_hint)
        mf.addRow(self.freeze)
        train_box = QGroupBox("Training")
        tf = QFormLayout(train_box)
        tf.addRow("Epochs", self.epochs)
        tf.addRow("Batch size", self.batch_size)
        tf.addRow("Learning rate", self.lr)
        tf.addRow("Image size", self.img_size)
        tf.addRow("Validation split", self.val_split)
        tf.addRow("Augmentation", self.augment)
        tf.addRow("Device", self.device)
        for form in (mf, tf):
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.settings_box = QWidget()
        sb = QVBoxLayout(self.settings_box)
        sb.setContentsMargins(0, 0, 0, 0)
        sb.addWidget(model_box)
        sb.addWidget(train_box)

        self.dataset_label = QLabel("No dataset open yet.")
        self.dataset_label.setWordWrap(True)
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_button.setMinimumHeight(34)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setShortcut(QKeySequence("Ctrl+."))
        self.stop_button.setToolTip(
            "Stop after the current batch; the best checkpoint so far is kept (Ctrl+.)"
        )
        self.stop_button.setMinimumHeight(34)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.stop_button, 1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.settings_box)
        lv.addWidget(self.dataset_label)
        lv.addLayout(buttons)
        lv.addStretch(1)
        left_scroll = QScrollArea()
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QFrame.Shape.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width() + 24)

        # right: progress, plots, result, log
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self.progress.setTextVisible(True)
        self.speed_label = QLabel(" ")
        self.plots = TrainingPlots()
        self.compare = RunCompareBar(self.plots, self.runs_dir)
        self.results = EvalResultsPanel()
        self.results.error.connect(self._show_error)
        self.message = MessageBar()

        self.result_title = heading("")
        self.result_text = QLabel()
        self.result_text.setWordWrap(True)
        self.result_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use in Classify")
        self.use_button.setToolTip("Load this checkpoint in the Classify tab")
        self.use_button.clicked.connect(self._use_in_classify)
        self.folder_button = QPushButton("Show Folder")
        self.folder_button.clicked.connect(self._show_folder)
        self.more_epochs = QSpinBox()
        self.more_epochs.setRange(1, 1000)
        self.more_epochs.setValue(5)
        self.more_epochs.setPrefix("+")
        self.more_epochs.setSuffix(" epochs")
        self.continue_button = QPushButton("Continue training")
        self.continue_button.setToolTip(
            "Train more epochs from the saved state (optimizer and schedule carry on)"
        )
        self.continue_button.clicked.connect(self.continue_training)
        rb = QHBoxLayout()
        rb.addWidget(self.use_button)
        rb.addWidget(self.folder_button)
        rb.addStretch(1)
        rb.addWidget(self.continue_button)
        rb.addWidget(self.more_epochs)
        self.result_box = QFrame()
        self.result_box.setFrameShape(QFrame.Shape.StyledPanel)
        rl = QVBoxLayout(self.result_box)
        rl.addWidget(self.result_title)
        rl.addWidget(self.result_text)
        rl.addLayout(rb)
        self.result_box.hide()

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(mono_font())
        self.log.setPlaceholderText("The log of each epoch appears here.")
        self.log.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.message)
        tv.addWidget(self.progress)
        speed_row = QHBoxLayout()
        speed_row.addWidget(self.speed_label, 1)
        speed_row.addWidget(self.compare)
        tv.addLayout(speed_row)
        tv.addWidget(self.plots, 1)
        tv.addWidget(self.result_box)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.addTab(self.log, "Log")
        self.bottom_tabs.addTab(self.results, "Evaluation")
        right = self.right_split = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(top)
        right.addWidget(self.bottom_tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([520, 160])

        splitter = QSplitter()
        splitter.addWidget(left_scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # --- settings ---------------------------------------------------------------------------------
    def load_settings(self) -> None:
        s = settings()
        s.beginGroup("train")
        arch = str(s.value("arch", DEFAULTS.arch))
        self.arch.setCurrentIndex(max(0, self.arch.findData(arch)))
        self._pretrained_file = str(s.value("pretrained_file", ""))
        mode = int(s.value("pretrained", PRETRAINED_NONE))
        if mode == PRETRAINED_FILE and self._pretrained_file:
            self._set_pretrained_file(self._pretrained_file)
        elif mode == PRETRAINED_IMAGENET:
            self.pretrained.setCurrentIndex(PRETRAINED_IMAGENET)
        self.freeze.setChecked(str(s.value("freeze", "false")).lower() == "true")
        self.epochs.setValue(int(s.value("epochs", DEFAULTS.epochs)))
        self.batch_size.setValue(int(s.value("batch_size", DEFAULTS.batch_size)))
        self.lr.setText(str(s.value("lr", "")))
        self.img_size.setValue(int(s.value("img_size", 0)))
        self.val_split.setValue(int(s.value("val_split", round(DEFAULTS.val_split * 100))))
        self.augment.setCurrentText(str(s.value("augment", DEFAULTS.augment)))
        self.device.setCurrentIndex(max(0, self.device.findData(str(s.value("device", DEFAULTS.device)))))
        s.endGroup()

    def save_settings(self) -> None:
        s = settings()
        s.beginGroup("train")
        s.setValue("arch", self.arch.currentData())
        s.setValue("pretrained", min(self.pretrained.currentIndex(), PRETRAINED_FILE))
        s.setValue("pretrained_file", self._pretrained_file)
        s.setValue("freeze", self.freeze.isChecked())
        s.setValue("epochs", self.epochs.value())
        s.setValue("batch_size", self.batch_size.value())
        s.setValue("lr", self.lr.text().strip())
        s.setValue("img_size", self.img_size.value())
        s.setValue("val_split", self.val_split.value())
        s.setValue("augment", self.augment.currentText())
        s.setValue("device", self.device.currentData())
        s.endGroup()

    # --- inputs from elsewhere --------------------------------------------------------------------
    def set_dataset(self, result: Any) -> None:
        """The Dataset tab finished scanning a folder."""
        self.dataset = result
        index = result.index
        name = "the demo dataset" if result.is_demo else Path(index.root).name
        self.dataset_label.setText(
            f"Dataset: <b>{name}</b> — {index.num_images:,} images, {len(index.classes)} classes"
        )
        self.img_size.setSpecialValueText(
            f"auto ({result.auto_img_size} px)" if result.auto_img_size else "auto"
        )
        folders = index.split_source != "auto"
        self.val_split.setEnabled(not folders)
        self.val_split.setToolTip(
            "This dataset has its own val/ folder, so no images are held out automatically."
            if folders
            else "Share of each class held out to measure accuracy on unseen images."
        )
        self._update_enabled()

    def set_devices(self, names: dict[str, str | None]) -> None:
        """Device probe results: name -> readable name, or None when not available."""
        model = self.device.model()
        for i in range(self.device.count()):
            key = self.device.itemData(i)
            readable = names.get(key)
            item = model.item(i)
            if key == "auto":
                self.device.setItemText(i, f"auto ({readable})" if readable else "auto")
            elif readable:
                self.device.setItemText(i, f"{key} ({readable})")
            else:
                item.setEnabled(False)
                self.device.setItemData(i, f"No {key} device on this machine", Qt.ItemDataRole.ToolTipRole)
        if not self.device.model().item(self.device.currentIndex()).isEnabled():
            self.device.setCurrentIndex(0)

    def start_model_facts(self) -> None:
        """Fill in params/GFLOPs and ImageNet availability (builds each model once, off-thread)."""
        if self._facts_worker is not None:
            return
        self._facts_worker = Worker(model_facts)
        self._facts_worker.event.connect(self._on_model_facts)
        self._facts_worker.start()

    @Slot(object)
    def _on_model_facts(self, facts: dict) -> None:
        arch = facts["arch"]
        i = self.arch.findData(arch)
        self._imagenet[arch] = (facts["imagenet"], facts["imagenet_file"])
        if i >= 0 and "params" in facts:
            self._facts[arch] = facts
            text = f"{arch_label(arch)}  ·  {fmt_count(facts['params'])}  ·  {facts['gflops']:.1f} GFLOPs"
            self.arch.setItemText(i, text)
            self.arch.setItemData(
                i, "parameters and GFLOPs (multiply-adds) for one 224×224 image", Qt.ItemDataRole.ToolTipRole
            )
        self._update_pretrained_items()

    # --- enabling ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._worker is not None and self._worker.is_running()

    def _update_pretrained_items(self) -> None:
        arch = self.arch.currentData()
        facts = self._facts.get(arch)
        self.arch_facts.setText(
            f"{fmt_count(facts['params'])} params · {facts['gflops']:.1f} GFLOPs at 224 px" if facts else " "
        )
        known = arch in self._imagenet
        available, file = self._imagenet.get(arch, (False, ""))
        item = self.pretrained.model().item(PRETRAINED_IMAGENET)
        item.setEnabled(available or not known)
        tip = (
            f"ImageNet weights for {arch_label(arch)} are on disk."
            if available
            else f"Not on disk (we never download). Put the torchvision file at:\n{file}"
            if known
            else "Checking…"
        )
        self.pretrained.setItemData(PRETRAINED_IMAGENET, tip, Qt.ItemDataRole.ToolTipRole)
        if known and not available:
            self.pretrained_hint.setText(
                f"ImageNet weights are not on disk (we never download). To use them, put "
                f"<i>{Path(file).name}</i> in the torch hub folder (hover for the path)."
            )
            self.pretrained_hint.setToolTip(file)
            self.pretrained_hint.show()
            if self.pretrained.currentIndex() == PRETRAINED_IMAGENET:
                self.pretrained.setCurrentIndex(PRETRAINED_NONE)
        else:
            self.pretrained_hint.hide()
        self._update_enabled()

    def _update_enabled(self) -> None:
        running = self.is_running()
        self.settings_box.setEnabled(not running)
        self.freeze.setEnabled(self.pretrained.currentIndex() != PRETRAINED_NONE)
        if self.pretrained.currentIndex() == PRETRAINED_NONE:
            self.freeze.setChecked(False)
        self.start_button.setEnabled(not running and self.dataset is not None)
        self.start_button.setToolTip("" if self.dataset is not None else "Open a dataset first (Dataset tab)")
        self.stop_button.setEnabled(running and not self._worker.stopping)
        has_result = self.result is not None and bool(self._best_checkpoint())
        self.use_button.setEnabled(not running and has_result)
        self.continue_button.setEnabled(not running and has_result and self.dataset is not None)
        self.more_epochs.setEnabled(not running)

    def _on_pretrained_activated(self, index: int) -> None:
        if index == PRETRAINED_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Pretrained weights", self._pretrained_file, CHECKPOINT_FILTER
            )
            if path:
                self._set_pretrained_file(path)
            else:
                self.pretrained.setCurrentIndex(PRETRAINED_NONE)

    def _set_pretrained_file(self, path: str) -> None:
        self._pretrained_file = path
        self.pretrained.setItemText(PRETRAINED_FILE, f"File: {Path(path).name}")
        self.pretrained.setItemData(PRETRAINED_FILE, path, Qt.ItemDataRole.ToolTipRole)
        self.pretrained.setCurrentIndex(PRETRAINED_FILE)

    # --- running ----------------------------------------------------------------------------------
    def build_config(self, **overrides: Any) -> Any:
        """The TrainConfig the form describes (raises ValueError with a readable message)."""
        from resnet_gui.engine.config import TrainConfig

        if self.dataset is None:
            raise ValueError("Open a dataset first (Dataset tab or File ▸ Open Dataset Folder).")
        lr_text = self.lr.text().strip().replace(",", ".")
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            raise ValueError(f"Learning rate '{lr_text}' is not a number; leave it empty for auto.") from None
        pretrained = {PRETRAINED_NONE: "none", PRETRAINED_IMAGENET: "imagenet"}.get(
            self.pretrained.currentIndex(), self._pretrained_file
        )
        config = TrainConfig(
            data_dir=self.dataset.root,
            arch=self.arch.currentData(),
            epochs=self.epochs.value(),
            batch_size=self.batch_size.value(),
            lr=lr,
            img_size=self.img_size.value() or None,
            val_split=self.val_split.value() / 100.0,
            pretrained=pretrained,
            freeze_backbone=self.freeze.isChecked(),
            augment=self.augment.currentText(),
            device=self.device.currentData(),
            workers=self.num_workers,
            mp_context=WORKER_START_METHOD,
            out_dir=str(self.runs_dir),  # the engine makes <dataset>-<arch>-<time>/ inside
        )
        return dataclasses.replace(config, **overrides) if overrides else config

    def start(self) -> None:
        """Start a new run with the form's settings."""
        if self.is_running():
            return
        try:
            config = self.build_config()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.save_settings()
        self.plots.reset()
        self.log.clear()
        self._run(config)

    def continue_training(self) -> None:
        """N more epochs from the last run's saved state."""
        if self.is_running() or self._config is None or self.result is None:
            return
        resume = getattr(self.result, "last_checkpoint", None) or self._best_checkpoint()
        done = int(getattr(self.result, "epochs", 0) or len(getattr(self.result, "history", []) or []))
        config = dataclasses.replace(self._config, resume=resume, epochs=done + self.more_epochs.value())
        self._log(f"Continuing from {resume} for {self.more_epochs.value()} more epochs.")
        self._run(config)

    def _run(self, config: Any) -> None:
        if self._worker is not None:
            self._worker.join()  # the last run has ended; make sure its thread has too
        self._config = config
        self._run_result = None
        self._run_error = None
        self._skipped = 0
        self.checkpoints = {}
        self.results.clear()
        self.message.hide()
        self.result_box.hide()
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.speed_label.setText("Preparing data and model…")
        self._t0 = time.monotonic()
        self._worker = Worker(train_in_background, config)
        self._worker.event.connect(self._on_event)
        self._worker.returned.connect(self._on_returned)
        self._worker.errored.connect(self._on_errored)
        self._worker.finished.connect(self._on_finished)
        self._worker.start()
        self._update_enabled()
        self.running_changed.emit(True)
        self.busy.emit("Training: starting…")

    def stop(self) -> None:
        """Ask the engine to stop after the current batch."""
        if self.is_running():
            self._worker.stop()
            self.progress.setFormat(self.progress.format() + " — stopping…")
            self.busy.emit("Training: stopping after this batch…")
            self._update_enabled()

    def shutdown(self) -> None:
        """Stop and join every thread (window closing)."""
        for worker in (self._worker, self._facts_worker):
            if worker is not None:
                worker.stop_and_join()
        self.results.shutdown()

    # --- engine events ----------------------------------------------------------------------------
    @Slot(object)
    def _on_event(self, e: object) -> None:
        if isinstance(e, ev.StepDone):
            self._on_step(e)
        elif isinstance(e, ev.EpochDone):
            self._on_epoch(e)
        elif isinstance(e, ev.RunStarted):
            self._on_started(e)
        elif isinstance(e, ev.CheckpointSaved):
            self.checkpoints[e.kind] = e.path
            if e.kind == "best":
                # the run folder was logged once at the start; one line per save stays readable
                name = Path(e.path).name
                self._log(f"  saved {name} (epoch {e.epoch}, val acc {fmt_pct(e.val_acc)})")
        elif isinstance(e, ev.ImageSkipped):
            self._skipped += 1
            self._log(f"  skipped {e.path}: {e.reason}")
        elif isinstance(e, ev.EvalStarted):
            self.progress.setFormat(f"Evaluating the best model on {e.num_images} validation images…")
        elif isinstance(e, ev.EvalDone):
            self._show_evaluation(e.result)
        elif isinstance(e, ev.RunFinished):
            self._run_result = e.result
        elif isinstance(e, ev.RunFailed):
            self._run_error = e.error
        self.engine_event.emit(e)

    def _on_started(self, e: ev.RunStarted) -> None:
        # start_epoch = epochs already done (0 for a fresh run); event epochs are 1-based
        self._start_epoch, self._epochs, self._steps = e.start_epoch, e.epochs, max(1, e.steps_per_epoch)
        what = "Continuing" if e.start_epoch > 0 else "Training"
        self._log(
            f"{what} {arch_label(e.arch)} on {e.device_name}: {len(e.classes)} classes, "
            f"{e.num_train} train / {e.num_val} val images at {e.img_size} px, "
            f"epochs {e.start_epoch + 1}–{e.epochs}, {e.steps_per_epoch} steps each."
        )
        self._log(f"  checkpoints go to {e.out_dir}")
        self.compare.current_run = e.out_dir
        self.progress.setFormat(f"Epoch {e.start_epoch + 1}/{e.epochs}")
        self.speed_label.setText(f"{arch_label(e.arch)} on {e.device_name} · {e.img_size} px")

    def _fraction(self, epoch: int, step: int) -> float:
        total = max(1, (self._epochs - self._start_epoch) * self._steps)
        done = (epoch - 1 - self._start_epoch) * self._steps + step
        return min(1.0, max(0.0, done / total))

    def _on_step(self, e: ev.StepDone) -> None:
        self.plots.add_step(e.epoch - 1 + e.step / max(1, e.steps), e.loss)
        self.progress.setValue(int(1000 * self._fraction(e.epoch, e.step)))
        stopping = " — stopping…" if self._worker is not None and self._worker.stopping else ""
        self.progress.setFormat(f"Epoch {e.epoch}/{e.epochs} · step {e.step}/{e.steps}{stopping}")
        self.speed_label.setText(
            f"loss {e.loss:.3f} · {e.img_per_s:.0f} images/s · elapsed {fmt_duration(e.elapsed_s)} · "
            f"about {fmt_duration(e.eta_s)} left"
        )
        self.busy.emit(f"Training: epoch {e.epoch}/{e.epochs}, about {fmt_duration(e.eta_s)} left")

    def _on_epoch(self, e: ev.EpochDone) -> None:
        self.plots.add_epoch(e.epoch, e.train_loss, e.train_acc, e.val_loss, e.val_acc)
        self.progress.setValue(int(1000 * self._fraction(e.epoch, self._steps)))
        val = (
            f"val loss {e.val_loss:.3f} acc {fmt_pct(e.val_acc)}"
            if e.val_loss is not None
            else "no validation set"
        )
        star = "  ★ best" if e.is_best else ""
        self._log(
            f"Epoch {e.epoch:>3}/{e.epochs}  train loss {e.train_loss:.3f} acc {fmt_pct(e.train_acc)}  "
            f"{val}  ({e.epoch_s:.1f} s, {e.img_per_s:.0f} img/s){star}"
        )

    @Slot(object)
    def _on_returned(self, result: Any) -> None:
        self._run_result = result

    @Slot(object)
    def _on_errored(self, exc: BaseException) -> None:
        self._run_error = error_text(exc)

    @Slot()
    def _on_finished(self) -> None:
        self._worker.join()  # returns at once: the run is over, its thread is exiting
        self.plots.stop_live()
        result, error = self._run_result, self._run_error
        if result is not None and error is None:
            self.result = result
            self._show_result(result)
        else:
            self._show_error(f"Training failed: {error or 'no result'}")
            self.progress.setFormat("Failed")
        self._update_enabled()
        self.running_changed.emit(False)
        self.busy.emit("")
        self.run_finished.emit(result if error is None else None)

    # --- result -----------------------------------------------------------------------------------
    def _best_checkpoint(self) -> str | None:
        r = self.result
        return (getattr(r, "checkpoint", None) if r is not None else None) or self.checkpoints.get("best")

    def _show_result(self, r: Any) -> None:
        ckpt = self._best_checkpoint()
        stopped = bool(getattr(r, "stopped", False))
        self.progress.setValue(self.progress.value() if stopped else 1000)
        self.progress.setFormat("Stopped" if stopped else "Done")
        wall = fmt_duration(getattr(r, "wall_s", time.monotonic() - self._t0))
        self.speed_label.setText(f"{'Stopped' if stopped else 'Finished'} after {wall}")
        self.result_title.setText(
            f"Best validation accuracy: {fmt_pct(r.best_val_acc)}"
            if r.best_val_acc is not None
            else "Training finished (no validation images)"
        )
        lines = []
        if stopped:
            lines.append("Stopped early; the best checkpoint so far is kept.")
        lines.append(
            f"Checkpoint: {ckpt}" if ckpt else "No checkpoint was saved (stopped before the first epoch)."
        )
        if getattr(r, "skipped", None):
            lines.append(f"{len(r.skipped)} unreadable images were skipped (see the log).")
        self.result_text.setText("<br>".join(lines))
        self.result_box.show()
        self.results.set_checkpoint(ckpt)
        self._log(
            f"{'Stopped' if stopped else 'Finished'} after {wall}; best val acc {fmt_pct(r.best_val_acc)}."
        )

    def _show_evaluation(self, result: Any) -> None:
        self.results.set_result(result)
        self.bottom_tabs.setCurrentWidget(self.results)
        total = sum(self.right_split.sizes())
        self.right_split.setSizes([total * 9 // 20, total * 11 // 20])  # room for the heatmap and gallery
        self._log(
            f"Evaluated the best model on {result.num_images} validation images: accuracy "
            f"{fmt_pct(result.accuracy)}, {len(result.misclassified)} misclassified (Evaluation tab)."
        )

    def _show_error(self, text: str) -> None:
        self.message.show_message(text)
        self._log(text)
        self.error.emit(text)

    def _use_in_classify(self) -> None:
        ckpt = self._best_checkpoint()
        if ckpt:
            self.use_checkpoint.emit(ckpt)

    def _show_folder(self) -> None:
        ckpt = self._best_checkpoint()
        if ckpt:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(ckpt).parent)))

    def _log(self, text: str) -> None:
        self.log.appendPlainText(text)
