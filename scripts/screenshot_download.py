"""assets/screenshots/download.png: the Train tab downloading ImageNet weights (progress bar, Cancel).

No internet needed: a loopback server (tests/_weights_server.py) serves a random-init ResNet-18 of the
real size (44.7 MB) slowly, as if it were torchvision's file, into a temporary $TORCH_HOME. Run under a
display (e.g. `Xvfb :52 -screen 0 1280x720x24 & DISPLAY=:52 python scripts/screenshot_download.py`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="resnet-gui-shot-"))
    os.environ["TORCH_HOME"] = str(tmp / "torch")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    import pytest
    from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: TID251 (drives the app's window)

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "config"))
    from benchmarks.gui_wait import wait_until
    from resnet_gui.ui.app import create_app
    from resnet_gui.ui.main_window import MainWindow
    from resnet_gui.ui.train.form import PRETRAINED_IMAGENET
    from tests._weights_server import WeightsServer, random_resnet18_bytes, serve_as_imagenet

    app = create_app()
    window = MainWindow(runs_dir=tmp / "runs")
    window.resize(1280, 720)
    window.show()
    app.processEvents()
    loaded: list = []
    window.dataset_view.dataset_loaded.connect(loaded.append)
    window.open_dataset(None)
    wait_until(lambda: loaded, 120, "the demo dataset", poll_ms=20)
    window.tabs.setCurrentIndex(1)
    form = window.training_view.form
    with WeightsServer() as server:
        mp = pytest.MonkeyPatch()
        name = serve_as_imagenet(mp, server, random_resnet18_bytes())
        server.slow.add(name)  # 64 KiB per 20 ms: ~15 s for the whole file
        wait_until(lambda: "resnet18" in form.weights.facts, 120, "the weights facts", poll_ms=20)
        form.weights.set_facts(
            {
                "archs": {"resnet18": {**form.weights.facts["resnet18"], "mb": 44.7}},
                "folder": form.weights.folder,
            }
        )
        form.pretrained.setCurrentIndex(PRETRAINED_IMAGENET)
        form._on_pretrained_activated(PRETRAINED_IMAGENET)
        wait_until(lambda: form.weights.box.bar.value() >= 380, 120, "40 % downloaded", poll_ms=20)
        loop = QEventLoop()
        QTimer.singleShot(100, loop.quit)
        loop.exec()
        out = ROOT / "assets" / "screenshots" / "download.png"
        window.grab().save(str(out))
        print(f"wrote {out}")
        form.weights.box.cancel()
        wait_until(lambda: not form.weights.is_busy(), 60, "the cancel", poll_ms=20)
        window.close()
        mp.undo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
