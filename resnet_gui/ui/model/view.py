"""Model tab: what the network is made of, layer by layer (the app's `resnet-gui inspect`).

Shows the architecture chosen on the Train tab (with the dataset's class count and image size) or the
checkpoint loaded in Classify (both from the app state): one row per stem layer, residual block and
head layer with its output shape, parameters and multiply-adds; the totals; and the shape of the network
at a glance (BasicBlock or Bottleneck, blocks per stage, feature-map sizes). `describe_model` runs off
the GUI thread, only while the tab is shown; the newest request wins.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.format import human_number as human
from resnet_gui.ui.common import HeadedTableModel, MessageBar, button, error_text, heading
from resnet_gui.ui.jobs import describe
from resnet_gui.ui.state import AppState
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from resnet_gui.engine.model.describe import ModelDescription

TRAIN, CHECKPOINT = "train", "checkpoint"
Source = tuple  # (TRAIN, arch, num_classes, img_size, leaves) or (CHECKPOINT, path, leaves)


def stage_of(name: str) -> str:
    """ "conv1" -> "stem", "layer2.1" -> "stage 2", "fc" -> "head"."""
    if name.startswith("layer"):
        return f"stage {name[5:].split('.')[0]}"
    return "head" if name.split(".")[0] in ("avgpool", "fc") else "stem"


class LayerTableModel(HeadedTableModel):
    """Rows of a ModelDescription plus a bold totals row."""

    HEADERS = ("Stage", "Layer", "Type", "Output shape", "Params", "MACs", "% of MACs")
    NUMERIC = (4, 5, 6)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.desc: ModelDescription | None = None
        self.cells: list[tuple[str, ...]] = []  # the text of every cell, made once per description

    def set_description(self, desc: ModelDescription | None) -> None:
        self.beginResetModel()
        self.desc = desc
        self.cells = [] if desc is None else self._cells(desc)
        self.endResetModel()

    @staticmethod
    def _cells(d: ModelDescription) -> list[tuple[str, ...]]:
        rows = []
        for r in d.layers:
            share = f"{100 * r.macs / d.macs_total:.1f}%" if d.macs_total and r.macs else "-"
            shape = " × ".join(str(v) for v in r.output_shape)
            rows.append((stage_of(r.name), r.name, r.type, shape, human(r.params), human(r.macs), share))
        rows.append(("Total", "", "", "", human(d.params_total), human(d.macs_total), "100%"))
        return rows

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid() or self.desc is None:
            return 0
        return len(self.desc.layers) + 1

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or self.desc is None:
            return None
        d, row, col = self.desc, index.row(), index.column()
        total = row == len(d.layers)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells[row][col]
        if role == Qt.ItemDataRole.ToolTipRole and not total and col in (4, 5):
            r = d.layers[row]
            return f"{r.params:,} parameters · {r.macs:,} multiply-adds"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self.NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and total:
            f = QFont()
            f.setBold(True)
            return f
        return None


class ModelView(QWidget):
    """The Model tab."""

    export_requested = Signal(str)  # the checkpoint to export
    described = Signal(object)  # a ModelDescription is shown

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state or AppState(self)
        self._train: tuple[str, int | None, int | None] = (self.state.arch, None, None)  # None: the engine's
        self._train_note = ""
        self.checkpoint: str | None = None
        self.desc: ModelDescription | None = None
        self._job = LatestJob(self)
        self._asked: Source | None = None  # what the newest job describes
        self._shown_source: Source | None = None

        self.source = QComboBox()
        self.source.addItem("Architecture chosen on the Train tab", TRAIN)
        self.source.addItem("Loaded checkpoint (none yet)", CHECKPOINT)
        self.source.model().item(1).setEnabled(False)
        self.source.currentIndexChanged.connect(self.refresh)
        self.leaves = QCheckBox("Every layer")
        self.leaves.setToolTip("List each convolution, batch norm and ReLU instead of whole residual blocks")
        self.leaves.toggled.connect(self.refresh)
        self.export_button = button(
            "Export…",
            lambda: self.export_requested.emit(self.checkpoint or ""),
            "Save the loaded checkpoint as ONNX or TorchScript",
        )
        self.export_button.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.source, 1)
        top.addWidget(self.leaves)
        top.addWidget(self.export_button)

        self.title = heading("")
        self.title.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = MessageBar()
        self.table_model = LayerTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setResizeContentsPrecision(80)  # column widths from the first rows (ResNet-152: 464 rows)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        # numbers and shapes take the width they need; spare width stays empty at the right
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(64)
        header.setStretchLastSection(False)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)

        self.state.arch_changed.connect(lambda _arch: self._follow_train())
        self.state.img_size_changed.connect(lambda _px: self._follow_train())
        self.state.dataset_changed.connect(lambda _result: self._follow_train(switch=False))
        self.state.checkpoint_changed.connect(self.set_checkpoint)
        self._follow_train()
        if self.state.checkpoint:
            self.set_checkpoint(self.state.checkpoint)

    # --- inputs from the other tabs ---------------------------------------------------------------
    def set_train_arch(
        self, arch: str, num_classes: int | None, img_size: int | None, note: str = "", switch: bool = True
    ) -> None:
        """The Train tab's architecture, the dataset's class count and the image size it would train at.

        `switch`: show it now even if a checkpoint is shown (the user just chose it on the Train tab).
        """
        self._train = (arch, num_classes, img_size)  # None: the engine's (ImageNet's 1000, 224 px)
        self._train_note = note
        if self.source.currentData() == TRAIN:
            self.refresh()
        elif switch:
            self.source.setCurrentIndex(0)

    @Slot(str)
    def set_checkpoint(self, path: str) -> None:
        """A checkpoint was loaded in Classify: show it."""
        self.checkpoint = path
        self.source.setItemText(1, f"Loaded checkpoint: {Path(path).name}")
        self.source.model().item(1).setEnabled(True)
        self.export_button.setEnabled(True)
        if self.source.currentData() == CHECKPOINT:
            self.refresh()
        else:
            self.source.setCurrentIndex(1)

    def _follow_train(self, switch: bool = True) -> None:
        """The Train form's architecture and image size, and the open dataset's classes (app state)."""
        st, dataset = self.state, self.state.dataset
        classes = len(dataset.index.classes) if dataset is not None else None
        size = st.img_size or (dataset.auto_img_size if dataset is not None else None)
        note = (
            f"{classes} classes from the open dataset"
            if classes
            else "ImageNet's 1000 classes until a dataset is open"
        )
        note += f", {size} px as set on the Train tab" if st.img_size else ""
        self.set_train_arch(st.arch, classes, size, note, switch=switch)

    # --- describing -------------------------------------------------------------------------------
    def _current_source(self) -> Source | None:
        leaves = self.leaves.isChecked()
        if self.source.currentData() == CHECKPOINT:
            return (CHECKPOINT, self.checkpoint, leaves) if self.checkpoint else None
        return (TRAIN, *self._train, leaves)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Describe what is selected, when the tab is on screen (nothing runs while it is hidden)."""
        source = self._current_source()
        if source is None or not self.isVisible():
            return
        if source == (self._asked if self._job.is_running() else self._shown_source):
            return  # shown already, or on its way
        self._asked = source
        what = Path(source[1]).name if source[0] == CHECKPOINT else source[1]
        self.summary.setText(f"Measuring the layers of {what}…")
        self.title.setText("")
        self.table_model.set_description(None)  # never the old model's rows under a new title
        if source[0] == CHECKPOINT:
            args: tuple[Any, ...] = (source[1], source[2])
        else:
            _, arch, num_classes, img_size, leaves = source
            args = (arch, leaves, num_classes, img_size)
        self._job.start(
            describe, *args, on_done=partial(self._on_described, source), on_error=self._on_failed
        )

    def _on_described(self, source: Source, desc: ModelDescription) -> None:
        self.message.hide()
        self.desc = desc
        self._shown_source = source
        self.table_model.set_description(desc)
        self.table.resizeColumnsToContents()  # once per model, not on every layout pass
        where = (
            f"checkpoint {Path(self.checkpoint).name}"
            if source[0] == CHECKPOINT
            else f"Train tab settings ({self._train_note})"
            if self._train_note
            else "Train tab settings"
        )
        self.title.setText(
            f"{desc.arch} · {desc.num_classes} classes · {desc.img_size} × {desc.img_size} px input"
        )
        self.title.setToolTip(f"From the {where}")
        trainable = (
            ""
            if desc.params_trainable == desc.params_total
            else f" ({human(desc.params_trainable)} trainable)"
        )
        self.summary.setText(
            f"<b>{human(desc.params_total)}</b> parameters{trainable} · "
            f"<b>{desc.macs_total / 1e9:.3g} GFLOPs</b> per image (multiply-adds, as torchvision counts) · "
            f"from the {where}<br>{desc.shape_text()}"
        )
        self.described.emit(desc)

    def _on_failed(self, exc: BaseException) -> None:
        self.summary.setText("")
        self.message.show_message(f"Cannot describe this model: {error_text(exc)}")

    def is_busy(self) -> bool:
        return self._job.is_running()

    def shutdown(self) -> None:
        self._job.shutdown()
