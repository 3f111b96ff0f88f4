"""Start the desktop app: `run_app(data_dir=None, checkpoint=None) -> exit code`.

Checks the window system first (xcb_check), creates the QApplication, installs an excepthook that shows
errors in the window, and opens the given folder or the built-in demo dataset. torch is imported on a
worker thread after the window is up, so the window appears in well under a second.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)
_T0 = time.perf_counter()


def install_excepthook(window: object) -> None:
    """Unhandled exceptions (in slots too) go to the window's message bar with the traceback as details."""
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unhandled exception:\n%s", details)
        try:
            from resnet_gui.ui.common import error_text

            window.show_error(f"Something went wrong: {error_text(exc)}", details)  # type: ignore[attr-defined]
        except Exception:  # the window is gone: fall back to the terminal
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def _let_ctrl_c_quit(app: object) -> None:
    """Ctrl+C in the terminal closes the window cleanly (Qt's loop would otherwise swallow it)."""
    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: app.closeAllWindows())  # type: ignore[attr-defined]
    timer = QTimer(app)  # type: ignore[arg-type]
    timer.timeout.connect(lambda: None)  # wakes the interpreter so the handler runs
    timer.start(250)


def create_app() -> object:
    """The QApplication with our names (settings live under them)."""
    from PySide6.QtWidgets import QApplication

    from resnet_gui import __version__
    from resnet_gui.ui.common import APP, ORG

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName("ResNet GUI")
    app.setApplicationVersion(__version__)
    from PySide6.QtGui import QIcon

    from resnet_gui.desktop import APP_ID, icon_path

    app.setWindowIcon(QIcon(str(icon_path("png"))))  # every window's icon (title bar, task switcher)
    app.setDesktopFileName(APP_ID)  # matches resnet-gui.desktop (--install-desktop) on Wayland
    from resnet_gui.ui import collector

    collector.install()  # never collect (and destroy Qt objects) on a worker thread
    return app


def run_app(data_dir: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None) -> int:
    """Open the window on `data_dir` (None: the demo dataset) and run until it closes."""
    from resnet_gui.ui.xcb_check import ensure_qt_platform

    if not ensure_qt_platform():
        return 2
    if data_dir is not None and not Path(data_dir).is_dir():
        print(f"error: {data_dir} is not a folder", file=sys.stderr)
        return 2
    app = create_app()
    from resnet_gui.ui.main_window import MainWindow

    window = MainWindow()
    install_excepthook(window)
    _let_ctrl_c_quit(app)
    window.show()
    log.info("window shown %.2f s after the app module was imported", time.perf_counter() - _T0)
    window.start(str(data_dir) if data_dir is not None else None, str(checkpoint) if checkpoint else None)
    app.aboutToQuit.connect(window.shutdown)
    return int(app.exec())


if __name__ == "__main__":  # python -m resnet_gui.ui.app [DATA_DIR]
    logging.basicConfig(level=logging.INFO)
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
