"""Waiting for the app in scripts that drive the real window (benchmarks/gui_speed.py, scripts/screenshots.py).

Not for the app itself: it never waits in a nested event loop. Qt is imported by the caller first.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(pred: Callable[[], object], timeout: float, what: str, poll_ms: int = 5) -> None:
    """Run the event loop until `pred()` is true; TimeoutError naming `what` after `timeout` seconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.monotonic() + timeout
    loop = QEventLoop()
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        QTimer.singleShot(poll_ms, loop.quit)
        loop.exec()
