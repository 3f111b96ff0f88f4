"""The app's one garbage-collection policy: collect on the GUI thread only, and never rescan torch.

Automatic collection runs in whichever thread happens to allocate: a worker thread (loading a
checkpoint, computing Grad-CAM) could then destroy a Qt object that lives on the GUI thread, which
crashes Qt (seen once in the tests: a segfault inside a collection on a worker thread). So automatic
collection is switched off and a GUI-thread timer collects with the same generation thresholds, the
pattern of pyqtgraph's `util.garbage_collector` (`install`, at app start).

Once torch and the engine are imported, their ~300k long-lived objects are moved out of the
collector's way (`freeze_imported`): a full collection over them holds the GIL for ~0.5 s and freezes
the window; after the freeze it takes ~50 ms.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QTimer

_installed: GuiThreadGC | None = None
_frozen = False


class GuiThreadGC:
    """Python's cyclic garbage collector, run only on the GUI thread; `stop()` restores automatic
    collection."""

    def __init__(self, interval_ms: int = 500):
        self._was_enabled = gc.isenabled()
        self._threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer()
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        t0, t1, t2 = self._threshold
        c0, c1, c2 = gc.get_count()
        if c0 > t0:
            gen = 2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0
            gc.collect(gen)

    def stop(self) -> None:
        self.timer.stop()
        if self._was_enabled:
            gc.enable()


def install() -> GuiThreadGC:
    """Collect on the GUI thread from now on (call once the QApplication exists; idempotent)."""
    global _installed
    if _installed is None:
        _installed = GuiThreadGC()
    return _installed


def freeze_imported() -> None:
    """Move every object alive now (torch, the engine: imported for good) out of later collections; once."""
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True
