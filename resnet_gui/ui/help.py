"""Help ▸ Getting Started, Keyboard Shortcuts and Documentation: short pages in one non-modal window.

The shortcut list is read from the window's own actions (menus), plus the few that live on buttons
inside the views, so it cannot drift from what the keys do.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

#: Shortcuts that live on buttons or views, not in the menus: (keys, what they do).
VIEW_SHORTCUTS = (
    ("Ctrl+Return", "Train tab: start training"),
    ("Ctrl+.", "Train tab: stop after the current batch (press again: force stop)"),
    ("Ctrl+V", "Classify tab: classify the image on the clipboard"),
    ("Ctrl+C", "Evaluation gallery: copy the selected images' paths"),
)

GETTING_STARTED = """
<h3>Getting started</h3>
<ol>
<li><b>Dataset</b> (Ctrl+1): open a folder with <i>one subfolder per class</i>
(<code>cats/</code>, <code>dogs/</code>, …) with <b>File ▸ Open Dataset Folder…</b> (Ctrl+O), or drop it
on the window. The app opens on a small demo (four shapes) until you do.</li>
<li><b>Train</b> (Ctrl+2): keep the settings as they are and press <b>Start training</b>
(Ctrl+Return). The curves move as it learns; the log says what happens at each epoch.
<b>Stop</b> keeps the best model so far.</li>
<li>When it finishes, the <b>Evaluation</b> tab under the curves shows the confusion matrix (click a
cell to see its images) and the images it got wrong.</li>
<li><b>Classify</b> (Ctrl+3): press <b>Use in Classify</b>, then drop photos, paste one (Ctrl+V) or
open some (Ctrl+I). Each answer shows its top classes and the milliseconds it took.</li>
<li><b>Model</b> (Ctrl+4): layers, parameters and compute; <b>File ▸ Export Model…</b> (Ctrl+E)
writes ONNX or TorchScript.</li>
</ol>
<p><b>Tips.</b> A few dozen images per class and 5–10 epochs are a start; with fewer images choose
<i>Pretrained: ImageNet</i>. A result near chance (1 ÷ classes) usually means too few images or
epochs, or a learning rate that does not suit the data.</p>
<p>Everything here is also on the command line: <code>resnet-gui --help</code>.</p>
"""


def docs_location() -> Path | None:
    """The README of a source checkout (it links the rest of docs/), or None when not installed so."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    return readme if readme.is_file() else None


def docs_url() -> QUrl | None:
    path = docs_location()
    return QUrl.fromLocalFile(str(path)) if path else None


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(keys, what) for every action with a shortcut, menu order, then the views' own."""
    rows = []
    for action in actions:
        keys = action.shortcut()
        if keys.isEmpty() or not action.text():
            continue
        keys_text = keys.toString(QKeySequence.SequenceFormat.NativeText)
        rows.append((keys_text, action.text().replace("&", "").rstrip("…").strip()))
    return rows + list(VIEW_SHORTCUTS)


def shortcuts_html(actions: list[QAction]) -> str:
    cells = "".join(
        f"<tr><td style='padding:2px 16px 2px 0'><b>{escape(k)}</b></td><td>{escape(w)}</td></tr>"
        for k, w in shortcut_rows(actions)
    )
    return f"<h3>Keyboard shortcuts</h3><table>{cells}</table>"


def docs_html() -> str:
    path = docs_location()
    where = (
        f"<p><a href='{QUrl.fromLocalFile(str(path)).toString()}'>{escape(str(path))}</a> (opens in your "
        "viewer) and the <code>docs/</code> folder beside it: the engine API, performance, scaling and "
        "reliability notes.</p>"
        if path
        else "<p>The documentation is the README and the <code>docs/</code> folder of the source.</p>"
    )
    return (
        "<h3>Documentation</h3>"
        + where
        + "<p>On the command line, <code>resnet-gui COMMAND --help</code> lists every option with its "
        "default.</p>"
    )


class HelpDialog(QDialog):
    """Three tabs: Getting Started, Keyboard Shortcuts, Documentation."""

    PAGES = ("Getting Started", "Keyboard Shortcuts", "Documentation")

    def __init__(self, actions: list[QAction], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("ResNet GUI Help")
        self.tabs = QTabWidget()
        for title, html in zip(
            self.PAGES, (GETTING_STARTED, shortcuts_html(actions), docs_html()), strict=True
        ):
            page = QTextBrowser()
            page.setOpenExternalLinks(True)
            page.setHtml(html)
            self.tabs.addTab(page, title)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(close)
        self.resize(640, 460)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def show_page(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        self.show()
        self.raise_()
        self.activateWindow()

    def page_text(self, index: int) -> str:
        page = self.tabs.widget(index)
        assert isinstance(page, QTextBrowser)
        return page.toPlainText()
