"""File > Recent: the folders and checkpoints opened last (QSettings `recent/folders`, `recent/checkpoints`),
newest first, those still on disk only, with the platform's folder and file icons (an emoji shows as a
missing-glyph box on many fonts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMenu, QStyle

from resnet_gui.ui.common import settings, settings_list

MAX_RECENT = 8


def remember(key: str, path: str) -> None:
    """`path` first in the list `key`, without repeats, at most MAX_RECENT."""
    s = settings()
    items = [p for p in settings_list(s, key) if p != path]
    s.setValue(key, [path, *items][:MAX_RECENT])


def fill_recent(
    menu: QMenu, style: QStyle, open_folder: Callable[[str], object], open_checkpoint: Callable[[str], object]
) -> None:
    """Rebuild `menu` (on aboutToShow) from the settings."""
    menu.clear()
    s = settings()
    folders = [p for p in settings_list(s, "recent/folders") if Path(p).is_dir()]
    ckpts = [p for p in settings_list(s, "recent/checkpoints") if Path(p).is_file()]
    if not folders and not ckpts:
        menu.addAction("Nothing yet").setEnabled(False)
        return
    folder_icon = style.standardIcon(QStyle.StandardPixmap.SP_DirIcon)
    file_icon = style.standardIcon(QStyle.StandardPixmap.SP_FileIcon)
    for p in folders:
        menu.addAction(folder_icon, p, lambda p=p: open_folder(p))
    if folders and ckpts:
        menu.addSeparator()
    for p in ckpts:
        menu.addAction(file_icon, p, lambda p=p: open_checkpoint(p))
    menu.addSeparator()
    menu.addAction("Clear Recent", lambda: settings().remove("recent"))
