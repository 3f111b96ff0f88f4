"""The Train tab's settings form: model and training options, remembered in QSettings, as a TrainConfig.

Every choice and default comes from the torch-free `engine.config`. The form publishes the choices
other tabs follow (architecture, image size, validation split) to the app state, and fills in each
architecture's parameters, GFLOPs and ImageNet-weights availability once torch has loaded (a job that
builds each model once, off the GUI thread).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine.config import (
    ARCHS,
    AUGMENT_PRESETS,
    BATCH_SIZE_MAX,
    DEFAULTS,
    DEVICES,
    EPOCHS_MAX,
    IMG_SIZE_RANGE,
    PATIENCE_DEFAULT,
    PRETRAINED_CHOICES,
    TrainConfig,
    arch_label,
)
from resnet_gui.format import fmt_count
from resnet_gui.ui.common import CHECKPOINT_FILTER, settings
from resnet_gui.ui.jobs import GPU_COUNT_KEY, model_facts
from resnet_gui.ui.train.weights_panel import WeightsPanel
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from resnet_gui.ui.jobs import ScanResult
    from resnet_gui.ui.state import AppState

# DataLoader workers must not be forked from this process: it runs Qt threads (a fork copies their locks).
WORKER_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None

PRETRAINED_NONE, PRETRAINED_IMAGENET, PRETRAINED_FILE = 0, 1, 2
VAL_SPLIT_TIP = "Share of each class held out to measure accuracy on unseen images."


class TrainForm(QWidget):
    """The "Model" and "Training" boxes of the Train tab."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.pretrained_file = ""
        self.facts: dict[str, dict] = {}  # arch -> arch_summary(), once measured
        self.imagenet: dict[str, tuple[bool, str]] = {}  # arch -> (weights on disk, where they go)
        self._facts_job = LatestJob(self)
        self._facts_asked = False

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
        self.pretrained.currentIndexChanged.connect(self._update_freeze)
        self.pretrained_hint = QLabel()
        self.pretrained_hint.setWordWrap(True)
        self.pretrained_hint.setEnabled(False)
        self.pretrained_hint.hide()
        self.weights = WeightsPanel()  # download / import / the folder / arch checks (weights_panel.py)
        self.weights.available.connect(self._on_weights_available)
        self.pretrained.currentIndexChanged.connect(self._update_weights_panel)
        self.freeze = QCheckBox("Freeze backbone")
        self.freeze.setToolTip(
            "Train only the last layer: fast, and good with few images when starting from pretrained weights."
        )

        self.epochs = QSpinBox()
        self.epochs.setRange(1, EPOCHS_MAX)
        self.epochs.setToolTip("Passes over the training images.")
        self.until_plateau = QCheckBox("Train until it stops improving")
        self.until_plateau.setToolTip(
            f"Early stopping: end the run when {PATIENCE_DEFAULT} epochs in a row bring no better validation "
            "accuracy (Epochs is then the most it trains). The best checkpoint is kept."
        )
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
        self.val_split.setToolTip(VAL_SPLIT_TIP)
        self.augment = QComboBox()
        self.augment.addItems(list(AUGMENT_PRESETS))
        self.augment.setToolTip("Random flips, crops and colour changes so the model sees more variety.")
        self.device = QComboBox()
        for name in DEVICES:
            self.device.addItem(name, name)
        self.device.setToolTip("Where to train. Auto uses a GPU when there is one.")
        self.all_gpus = QCheckBox("Use all GPUs")
        self.all_gpus.setToolTip(
            "Train on every GPU of this machine at once (one process per GPU, PyTorch DDP). "
            "The batch size is the total over all GPUs."
        )
        self.all_gpus.hide()  # shown when the device probe finds two or more CUDA devices
        self._gpu_count = 0

        for combo in (self.arch, self.pretrained, self.augment, self.device):
            # long item texts (params, file names, GPU names) must not widen the panel
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)

        model_box = QGroupBox("Model")
        mf = QFormLayout(model_box)
        for label, widget in (
            ("Architecture", self.arch),
            ("", self.arch_facts),
            ("Pretrained", self.pretrained),
            ("", self.pretrained_hint),
            ("", self.weights),
        ):
            mf.addRow(label, widget)
        mf.addRow(self.freeze)
        train_box = QGroupBox("Training")
        tf = QFormLayout(train_box)
        for label, widget in (
            ("Epochs", self.epochs),
            ("", self.until_plateau),
            ("Batch size", self.batch_size),
            ("Learning rate", self.lr),
            ("Image size", self.img_size),
            ("Validation split", self.val_split),
            ("Augmentation", self.augment),
            ("Device", self.device),
            ("", self.all_gpus),
        ):
            tf.addRow(label, widget)
        for form in (mf, tf):
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(model_box)
        layout.addWidget(train_box)
        self.arch.currentIndexChanged.connect(lambda _i: state.set_arch(self.arch.currentData()))
        self.img_size.valueChanged.connect(state.set_img_size)
        self.val_split.valueChanged.connect(lambda v: state.set_val_split(v / 100.0))
        self.load_settings()  # publishes what it loads
        self._update_freeze()
        state.devices_changed.connect(self.set_devices)

    # --- settings ---------------------------------------------------------------------------------
    def load_settings(self) -> None:
        s = settings()
        s.beginGroup("train")
        arch = str(s.value("arch", DEFAULTS.arch))
        self.arch.setCurrentIndex(max(0, self.arch.findData(arch)))
        self.pretrained_file = str(s.value("pretrained_file", ""))
        mode = int(s.value("pretrained", PRETRAINED_NONE))
        if mode == PRETRAINED_FILE and self.pretrained_file:
            self._set_pretrained_file(self.pretrained_file)
        elif mode == PRETRAINED_IMAGENET:
            self.pretrained.setCurrentIndex(PRETRAINED_IMAGENET)
        self.freeze.setChecked(str(s.value("freeze", "false")).lower() == "true")
        self.epochs.setValue(int(s.value("epochs", DEFAULTS.epochs)))
        self.until_plateau.setChecked(
            str(s.value("until_plateau", DEFAULTS.patience is not None)).lower() == "true"
        )
        self.batch_size.setValue(int(s.value("batch_size", DEFAULTS.batch_size)))
        self.lr.setText(str(s.value("lr", "")))
        self.img_size.setValue(int(s.value("img_size", 0)))
        self.val_split.setValue(int(s.value("val_split", round(DEFAULTS.val_split * 100))))
        self.augment.setCurrentText(str(s.value("augment", DEFAULTS.augment)))
        self.device.setCurrentIndex(max(0, self.device.findData(str(s.value("device", DEFAULTS.device)))))
        self.all_gpus.setChecked(str(s.value("all_gpus", "true")).lower() == "true")
        s.endGroup()

    def save_settings(self) -> None:
        s = settings()
        s.beginGroup("train")
        s.setValue("arch", self.arch.currentData())
        s.setValue("pretrained", min(self.pretrained.currentIndex(), PRETRAINED_FILE))
        s.setValue("pretrained_file", self.pretrained_file)
        s.setValue("freeze", self.freeze.isChecked())
        s.setValue("epochs", self.epochs.value())
        s.setValue("until_plateau", self.until_plateau.isChecked())
        s.setValue("batch_size", self.batch_size.value())
        s.setValue("lr", self.lr.text().strip())
        s.setValue("img_size", self.img_size.value())
        s.setValue("val_split", self.val_split.value())
        s.setValue("augment", self.augment.currentText())
        s.setValue("device", self.device.currentData())
        s.setValue("all_gpus", self.all_gpus.isChecked())
        s.endGroup()

    # --- what the form describes --------------------------------------------------------------------
    def build_config(self, data_dir: str, out_dir: str, workers: int | None, **overrides: Any) -> TrainConfig:
        """The TrainConfig the form describes (raises ValueError with a readable message)."""
        lr_text = self.lr.text().strip().replace(",", ".")
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            raise ValueError(f"Learning rate '{lr_text}' is not a number; leave it empty for auto.") from None
        index = self.pretrained.currentIndex()  # the first items are PRETRAINED_CHOICES, in order
        pretrained = PRETRAINED_CHOICES[index] if index < PRETRAINED_FILE else self.pretrained_file
        problem = self.weights.start_problem(pretrained, self.arch.currentData())
        if problem:
            raise ValueError(problem)
        config = TrainConfig(
            data_dir=data_dir,
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
            workers=workers,
            mp_context=WORKER_START_METHOD,
            out_dir=out_dir,  # the engine makes <dataset>-<arch>-<time>/ inside
            patience=PATIENCE_DEFAULT if self.until_plateau.isChecked() else None,
        )
        return dataclasses.replace(config, **overrides) if overrides else config

    # --- inputs from elsewhere --------------------------------------------------------------------
    def set_dataset(self, result: ScanResult) -> None:
        """The dataset the next run trains on: its automatic image size, its own val/ folder."""
        self.img_size.setSpecialValueText(
            f"auto ({result.auto_img_size} px)" if result.auto_img_size else "auto"
        )
        folders = result.index.split_source != "auto"
        self.val_split.setEnabled(not folders)
        self.val_split.setToolTip(
            "This dataset has its own val/ folder, so no images are held out automatically."
            if folders
            else VAL_SPLIT_TIP
        )

    def processes(self) -> int:
        """Training processes the form asks for: one per GPU with "Use all GPUs", else 1."""
        on_gpu = self.device.currentData() in ("auto", "cuda")
        use_all = not self.all_gpus.isHidden() and self.all_gpus.isChecked() and on_gpu
        return self._gpu_count if use_all else 1

    def set_devices(self, names: dict[str, str | None]) -> None:
        """Device probe results (torch has loaded): name the devices, then measure the architectures."""
        self._gpu_count = int(names.get(GPU_COUNT_KEY) or 0)
        if self._gpu_count > 1:
            self.all_gpus.setText(f"Use all {self._gpu_count} GPUs")
            self.all_gpus.show()
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
        self.start_model_facts()

    def start_model_facts(self) -> None:
        """Fill in params/GFLOPs and ImageNet availability (builds each model once, off-thread)."""
        if self._facts_asked:
            return
        self._facts_asked = True
        self._facts_job.start(model_facts, events=True, on_event=self._on_model_facts)
        self.weights.start_facts()

    def _on_model_facts(self, facts: dict) -> None:
        arch = facts["arch"]
        i = self.arch.findData(arch)
        self.imagenet[arch] = (facts["imagenet"], facts["imagenet_file"])
        if i >= 0 and "params" in facts:
            self.facts[arch] = facts
            text = f"{arch_label(arch)}  ·  {fmt_count(facts['params'])}  ·  {facts['gflops']:.1f} GFLOPs"
            self.arch.setItemText(i, text)
            self.arch.setItemData(
                i, "parameters and GFLOPs (multiply-adds) for one 224×224 image", Qt.ItemDataRole.ToolTipRole
            )
        self._update_pretrained_items()

    # --- enabling ---------------------------------------------------------------------------------
    def _update_pretrained_items(self) -> None:
        arch = self.arch.currentData()
        facts = self.facts.get(arch)
        self.arch_facts.setText(
            f"{fmt_count(facts['params'])} params · {facts['gflops']:.1f} GFLOPs at 224 px" if facts else " "
        )
        known = arch in self.imagenet
        available, file = self.imagenet.get(arch, (False, ""))
        tip = (
            f"ImageNet weights for {arch_label(arch)} are on disk."
            if available
            else f"Downloaded when chosen (or import the file), into:\n{Path(file).parent}"
            if known
            else "Checking…"
        )
        self.pretrained.setItemData(PRETRAINED_IMAGENET, tip, Qt.ItemDataRole.ToolTipRole)
        self.pretrained_hint.hide()  # the weights panel says what is on disk and how to get the rest
        self._update_weights_panel()
        self._update_freeze()

    def _update_weights_panel(self, *_: object) -> None:
        index = self.pretrained.currentIndex()
        mode = {PRETRAINED_IMAGENET: "imagenet", PRETRAINED_FILE: "file"}.get(index, "none")
        self.weights.show_for(mode, self.arch.currentData(), self.pretrained_file if mode == "file" else "")

    def _on_weights_available(self, arch: str, path: str) -> None:
        self.imagenet[arch] = (True, path)
        self._update_pretrained_items()

    def _update_freeze(self) -> None:
        self.freeze.setEnabled(self.pretrained.currentIndex() != PRETRAINED_NONE)
        if self.pretrained.currentIndex() == PRETRAINED_NONE:
            self.freeze.setChecked(False)

    def _on_pretrained_activated(self, index: int) -> None:
        arch = self.arch.currentData()
        if index == PRETRAINED_IMAGENET and arch in self.weights.facts and not self.weights.cached(arch):
            self.weights.download()  # chosen by the user: fetch it now, as torchvision would
        if index == PRETRAINED_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Pretrained weights", self.pretrained_file, CHECKPOINT_FILTER
            )
            if path:
                self._set_pretrained_file(path)
            else:
                self.pretrained.setCurrentIndex(PRETRAINED_NONE)

    def _set_pretrained_file(self, path: str) -> None:
        self.pretrained_file = path
        self.pretrained.setItemText(PRETRAINED_FILE, f"File: {Path(path).name}")
        self.pretrained.setItemData(PRETRAINED_FILE, path, Qt.ItemDataRole.ToolTipRole)
        self.pretrained.setCurrentIndex(PRETRAINED_FILE)
        self._update_weights_panel()

    def shutdown(self) -> None:
        self._facts_job.shutdown()
        self.weights.shutdown()
