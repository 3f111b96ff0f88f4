"""Fixing the dataset from the Evaluation gallery: a context menu (Move to class ▸ / Remove / Keep, Undo /
Redo) on the selected images, through the same journal as the Dataset tab (ui/dataset/fixes.py).

The one hook is `attach_gallery_fixes(panel)` in the panel's constructor. A record whose file moved
follows it (its thumbnail still shows); the evaluation figures stay those of the evaluation that was run.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QPoint, Qt

from resnet_gui.ui.dataset.fixes import FixActions
from resnet_gui.ui.state import AppState


def _state_of(widget) -> AppState | None:
    w = widget
    while w is not None:
        state = getattr(w, "state", None)
        if isinstance(state, AppState):
            return state
        w = w.parent()
    return None


def attach_gallery_fixes(panel: Any) -> FixActions:  # an EvalResultsPanel (not imported: no cycle)
    def root() -> str | None:
        r = panel.result
        return os.path.abspath(r.data_dir) if r is not None and r.data_dir else None

    fixes = FixActions(root, panel)
    fixes.install(panel.gallery)
    panel.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def selected() -> list[str]:
        rows = sorted(i.row() for i in panel.gallery.selectionModel().selectedIndexes())
        return [panel.model.record(r)["path"] for r in rows]

    def menu(pos: QPoint) -> None:
        classes = list(panel.result.classes) if panel.result is not None else []
        fixes.menu(selected(), classes, panel).popup(panel.gallery.viewport().mapToGlobal(pos))

    def follow(change: object) -> None:
        base = root()
        if base is None or panel.result is None:
            return
        undone = isinstance(change, list)
        moved: dict[str, str] = {}
        for c in change if undone else [change]:
            for s, d in c.moves:
                a, b = (d, s) if undone else (s, d)
                moved[os.path.join(base, a)] = os.path.join(base, b)
        for rec in panel.model.records:
            if rec["path"] in moved:
                rec["path"] = moved[rec["path"]]
        panel.model.set_records(panel.model.records, panel.result.classes)
        panel.refresh_gallery()
        state = _state_of(panel)
        if state is not None:
            state.report_files_changed(base)

    panel.gallery.customContextMenuRequested.connect(menu)
    fixes.changed.connect(follow)
    return fixes
