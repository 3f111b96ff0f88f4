"""The dataset check's findings as the panel lists them: kinds of finding with their files, and the
thumbnail model that captions each file (e.g. "square → circle · 0.99")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QWidget

from resnet_gui.ui.dataset.widgets import ThumbnailModel
from resnet_gui.ui.workers import ImageLoader

if TYPE_CHECKING:
    from resnet_gui.engine.data.doctor.report import DoctorReport


class FindingModel(ThumbnailModel):
    """Thumbnails of one finding's files, each captioned (e.g. "cat → dog · 0.97")."""

    def __init__(self, loader: ImageLoader, parent: QWidget | None = None):
        super().__init__(loader, parent)
        self.records: list[dict] = []

    def set_records(self, records: list[dict]) -> None:
        self.records = records
        self.set_data([(r["path"], 0, "") for r in records], [""])

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or index.row() >= len(self.records):
            return None
        rec = self.records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return rec["caption"]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{rec['path']}\n{rec.get('tip', rec['caption'])}"
        return super().data(index, role)


def finding_groups(report: DoctorReport) -> list[tuple[str, str, list[dict]]]:
    """(title, what to do, records) per kind of finding, most harmful first; records {path, caption, tip}."""
    root = report.root

    def rel(p: str) -> str:
        return os.path.relpath(p, root)

    def cls(p: str) -> str:
        return Path(rel(p)).parent.name

    groups: list[tuple[str, str, list[dict]]] = []
    leak = []
    for d in report.leakage:
        tip = f"{d['kind']} copy: train {rel(d['train'])} = val {rel(d['val'])}"
        leak.append({"path": d["val"], "caption": f"val · {d['kind']}", "tip": tip})
        leak.append({"path": d["train"], "caption": f"train · {d['kind']}", "tip": tip})
    groups.append(("Train/val leakage", "The same image on both sides of the split: remove one copy.", leak))
    groups.append(
        (
            "Unreadable files",
            "Training skips these: remove or replace them.",
            [{"path": d["path"], "caption": d["reason"], "tip": d["reason"]} for d in report.unreadable],
        )
    )
    groups.append(
        (
            "Suspected label errors",
            "Most likely wrong first. Move each to the suggested class, keep it, or remove it.",
            [
                {
                    "path": d["path"],
                    "caption": f"{d['given']} → {d['suggested']} · {d['score']:.2f}",
                    "tip": f"labelled {d['given']}, looks like {d['suggested']} "
                    f"(p = {d.get('suggested_prob', 0):.2f}); score {d['score']:.3f}",
                    "suggested": d["suggested"],
                }
                for d in report.label_issues
            ],
        )
    )
    for title, todo, gs in (
        ("Exact duplicates", "Identical files: remove the extra copies.", report.duplicates),
        ("Near-duplicates", "Nearly the same picture: check, and remove copies.", report.near_duplicates),
    ):
        recs = [
            {
                "path": p,
                "caption": f"#{i + 1} · {cls(p)}",
                "tip": "same as " + ", ".join(rel(q) for q in g if q != p),
            }
            for i, g in enumerate(gs)
            for p in g
        ]
        groups.append((title, todo, recs))
    for key, title in (
        ("tiny", "Tiny images"),
        ("huge", "Huge images"),
        ("extreme_aspect", "Extreme aspect ratio"),
        ("mixed_mode", "Unusual colour mode"),
    ):
        recs = []
        for d in report.image_issues.get(key, []):
            cap = d.get("mode") or f"{d.get('width')}×{d.get('height')}"
            recs.append({"path": d["path"], "caption": cap, "tip": f"{title.lower()}: {cap}"})
        groups.append((title, "Usually fine to keep; remove if they are not real examples.", recs))
    return groups
