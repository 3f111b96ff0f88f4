"""assets/screenshots/doctor-check.png and doctor-review.png: the dataset check on a demo set with planted
problems (labels flipped, an exact and a near copy across the split, a truncated file), in the real window.

    DISPLAY=:55 python scripts/screenshots_doctor.py [--out assets/screenshots]   (Xvfb 1280x720)
Screenshots are of the whole screen (`import -window root`), so the dialog beside the window shows.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def planted(tmp: Path) -> Path:
    from PIL import Image

    from resnet_gui.engine.data.demo import make_demo_dataset

    d = make_demo_dataset(tmp / "shapes", per_class=40, size=64, seed=0, with_val=True)
    for cls, i, to in [
        ("circle", 1, "square"),
        ("square", 2, "star"),
        ("star", 3, "triangle"),
        ("triangle", 4, "circle"),
    ]:
        shutil.move(d / "train" / cls / f"{cls}_{i:04d}.png", d / "train" / to / f"{cls}_{i:04d}.png")
    shutil.copy(d / "train/circle/circle_0000.png", d / "val/circle/copy.png")
    Image.open(d / "train/star/star_0005.png").resize((56, 56)).save(d / "val/star/resized.jpg", quality=85)
    (d / "train/square/broken.png").write_bytes((d / "train/square/square_0007.png").read_bytes()[:400])
    return d


def shot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from PySide6.QtCore import QEventLoop, QItemSelectionModel, QSettings, QTimer

        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "config"))
        from benchmarks.gui_wait import wait_until
        from resnet_gui.ui.app import create_app
        from resnet_gui.ui.main_window import MainWindow

        data = planted(tmp)
        app = create_app()
        window = MainWindow(runs_dir=tmp / "runs")
        window.resize(1280, 690)
        window.move(0, 0)
        window.show()

        def settle(ms: int = 400) -> None:
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

        loaded: list = []
        view = window.dataset_view
        view.dataset_loaded.connect(loaded.append)
        window.open_dataset(str(data))
        wait_until(lambda: loaded, 120, "the dataset", poll_ms=20)
        view.check_button.click()
        dialog = view.doctor_dialog
        dialog.resize(1000, 560)
        dialog.move(260, 130)
        panel = dialog.panel
        wait_until(lambda: panel.progress.value() > 30, 120, "progress", poll_ms=10)
        settle(50)
        shot(out / "doctor-progress.png")
        wait_until(lambda: not panel.is_running(), 300, "the check", poll_ms=20)
        wait_until(
            lambda: panel.model.cached_count() >= len(panel.model.records), 60, "thumbnails", poll_ms=20
        )
        settle()
        shot(out / "doctor-check.png")

        # the review: the label errors, two selected, the Move to class menu open
        for i in range(panel.tree.topLevelItemCount()):
            if panel.tree.topLevelItem(i).text(0) == "Suspected label errors":
                panel.tree.setCurrentItem(panel.tree.topLevelItem(i))
        wait_until(
            lambda: panel.model.cached_count() >= len(panel.model.records), 60, "thumbnails", poll_ms=20
        )
        sel = panel.grid.selectionModel()
        for r in (0, 1):
            sel.select(panel.model.index(r), QItemSelectionModel.SelectionFlag.Select)
        panel.accept_suggestion()  # fixed: two moved back, the list and the Dataset tab follow
        wait_until(lambda: len(loaded) >= 2, 60, "the rescan", poll_ms=20)
        sel.select(panel.model.index(0), QItemSelectionModel.SelectionFlag.Select)
        settle()
        menu = panel.fixes.menu(panel.selected_paths(), panel._classes(), panel)
        pos = panel.grid.viewport().mapToGlobal(panel.grid.visualRect(panel.model.index(0)).center())
        menu.popup(pos)
        settle(500)
        shot(out / "doctor-review.png")
        menu.close()
        dialog.close()

        # Classify's feedback: a quick model, an image from outside the dataset, Wrong, it is ▸ circle
        from resnet_gui.engine.config import TrainConfig
        from resnet_gui.engine.train.loop import train

        run = train(
            TrainConfig(
                data_dir=str(data),
                epochs=1,
                img_size=32,
                batch_size=32,
                workers=0,
                out_dir=str(tmp / "runs"),
                amp=False,
            )
        )
        photo = tmp / "my-photo.png"
        shutil.copy(data / "val/circle/circle_0002.png", photo)
        iv = window.inference_view
        window.classify_with([str(photo)], str(run.checkpoint))
        wait_until(lambda: iv.results.rows and iv.feedback.row is not None, 120, "the prediction", poll_ms=20)
        iv.feedback.wrong("circle")
        settle(600)
        shot(out / "doctor-feedback.png")
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
