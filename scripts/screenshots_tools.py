"""Screenshots of the Runs tab, its Compare dialog and the LR finder: assets/screenshots/{runs,
runs-compare,lr-finder}.png (1280x720, like the others).

Trains three tiny runs into a temporary runs folder (RESNET_GUI_HOME), opens the real window on them,
then runs Find LR… in the Train tab. Needs a display: DISPLAY=:N with Xvfb (the whole screen is captured
with ImageMagick's `import`, so dialogs show over the window), or QT_QPA_PLATFORM=offscreen (grabs).

    Xvfb :53 -screen 0 1280x720x24 & DISPLAY=:53 python scripts/screenshots_tools.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    out = ROOT / "assets" / "screenshots"
    tmp = Path(tempfile.mkdtemp(prefix="resnet-gui-shots-"))
    os.environ["RESNET_GUI_HOME"] = str(tmp / "home")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    from resnet_gui.engine.config import TrainConfig, default_runs_dir
    from resnet_gui.engine.data.demo import make_demo_dataset
    from resnet_gui.engine.train.loop import train

    data = make_demo_dataset(tmp / "shapes", per_class=30, size=64, seed=0)
    for name, arch, epochs, lr in (
        ("shapes-baseline", "resnet18", 3, None),
        ("shapes-lr-3e-4", "resnet18", 3, 3e-4),
        ("shapes-resnet34", "resnet34", 2, None),
    ):
        train(
            TrainConfig(
                data_dir=str(data),
                arch=arch,
                epochs=epochs,
                lr=lr,
                img_size=48,
                batch_size=16,
                workers=0,
                run_name=name,
            )
        )
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "config"))
    from resnet_gui.ui.app import create_app
    from resnet_gui.ui.main_window import MainWindow

    app = create_app()
    window = MainWindow()
    window.confirm_close_mid_run = False
    window.resize(1280, 720)
    window.move(0, 0)
    window.show()

    def wait(pred, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise TimeoutError
            app.processEvents()
            time.sleep(0.02)

    def settle(s: float = 0.5) -> None:
        end = time.monotonic() + s
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def shoot(name: str, widget) -> None:
        settle()
        path = out / name
        if os.environ.get("DISPLAY") and shutil.which("import"):
            subprocess.run(["import", "-window", "root", str(path)], check=True)
        else:
            widget.grab().save(str(path))
        print(path)

    window.start(str(data))
    wait(lambda: window.training_view.dataset is not None, 60)
    window.tabs.setCurrentWidget(window.runs_view)
    view = window.runs_view
    wait(lambda: view.listing is not None and len(view.model.runs) == 3, 60)
    view.select_paths([str(default_runs_dir() / "shapes-lr-3e-4")])
    shoot("runs.png", window)
    view.select_paths([str(default_runs_dir() / n) for n in ("shapes-baseline", "shapes-lr-3e-4")])
    view.compare_selected()
    dialog = view._compare_dialogs[-1]
    dialog.move(150, 60)
    shoot("runs-compare.png", dialog)
    dialog.close()

    window.tabs.setCurrentWidget(window.training_view)
    form = window.training_view.form
    form.img_size.setValue(48)
    form.batch_size.setValue(16)
    form.device.setCurrentIndex(form.device.findData("cpu"))
    lr_dialog = window.training_view.lr_finder.open()
    lr_dialog.move(260, 110)
    wait(lambda: not lr_dialog.is_running(), 600)
    shoot("lr-finder.png", lr_dialog)
    lr_dialog.use()
    shoot("lr-finder-used.png", window)
    window.close()
    QApplication.processEvents()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
