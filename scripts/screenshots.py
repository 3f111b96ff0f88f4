"""Regenerate assets/screenshots/<view>-<W>x<H>.png at each --sizes and print the GUI figures.

Runs the real app window on the built-in demo dataset: opens it, trains with the panel's defaults (a
screenshot mid-training, curves moving), loads the result in Classify and drops unseen demo images on it;
then trains on a 10-class set of drawn digits for the Evaluation tab, and opens Help. Each view is
grabbed at every size (the window is resized, the run keeps going).
Under Linux without a display it starts Xvfb itself (`apt-get install xvfb`); QT_QPA_PLATFORM=offscreen
works too. User settings and cache are not touched (both go to a temp folder).

Figures printed (JSON on stdout): time from process start to window shown, time to index the demo folder,
plot redraws per second while training, the longest GUI-thread stall while training, training wall time.
"""

from __future__ import annotations

import time

T_IMPORT = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), to include interpreter start-up."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start
    except (OSError, ValueError, IndexError):
        return None


AGE_AT_IMPORT = process_age_s()


def start_xvfb(size: str) -> subprocess.Popen | None:
    if sys.platform != "linux" or os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        print("no DISPLAY and no Xvfb: falling back to QT_QPA_PLATFORM=offscreen", file=sys.stderr)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    display = ":97"
    proc = subprocess.Popen(
        [xvfb, display, "-screen", "0", f"{size}x24", "-nolisten", "tcp"], stderr=subprocess.DEVNULL
    )
    os.environ["DISPLAY"] = display
    for _ in range(50):
        if Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
            break
        time.sleep(0.1)
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="window sizes, comma-separated")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in size.split("x")) for size in args.sizes.split(",")]
    w, h = max(s[0] for s in sizes), max(s[1] for s in sizes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="resnet-gui-shots-"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # the demo dataset is generated here
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    xvfb = start_xvfb(f"{w + 120}x{h + 100}")
    try:
        return run(out, tmp, sizes)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def make_digits(root: Path, per_class: int = 50, size: int = 40, seed: int = 0) -> Path:
    """Ten classes of drawn digits (0-9), shifted, rotated, coloured and noisy: a 10-class folder."""
    import random

    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = random.Random(seed)
    for digit in range(10):
        folder = root / f"digit_{digit}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            bg = tuple(rng.randrange(0, 120) for _ in range(3))
            fg = tuple(rng.randrange(150, 256) for _ in range(3))
            img = Image.new("RGB", (size, size), bg)
            font = ImageFont.load_default(size=rng.randrange(size // 2, size * 4 // 5))
            ImageDraw.Draw(img).text(
                (size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)),
                str(digit),
                fill=fg,
                font=font,
                anchor="mm",
            )
            img = img.rotate(rng.uniform(-20, 20), fillcolor=bg).filter(ImageFilter.GaussianBlur(0.6))
            img.save(folder / f"{digit}_{k:03d}.png")
    return root


def run(out: Path, tmp: Path, sizes: list[tuple[int, int]]) -> int:
    # --- what `resnet-gui` does: Qt first, the window up, torch later on a worker thread ---------------
    from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: TID251 (drives the app's window)

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "config"))
    from benchmarks.gui_wait import wait_until
    from resnet_gui.ui.app import create_app, install_excepthook
    from resnet_gui.ui.main_window import MainWindow

    app = create_app()
    window = MainWindow(runs_dir=tmp / "runs")
    install_excepthook(window)
    window.resize(*sizes[0])
    window.move(0, 0)
    window.show()
    app.processEvents()
    shown = time.perf_counter()
    age = process_age_s()
    figures: dict = {
        "window_shown_s_since_process_start": round(age, 3) if age is not None else None,
        "window_shown_s_since_script_import": round(shown - T_IMPORT, 3),
        "platform": app.platformName(),
        "sizes": [f"{w}x{h}" for w, h in sizes],
    }
    written: list[Path] = []

    def wait(pred, timeout: float, what: str) -> None:
        wait_until(pred, timeout, what, poll_ms=20)

    def settle(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shoot(name: str, dialog=None) -> None:
        """The window (and `dialog` over it, grabbed from the screen) at every size; back to the first."""
        for w, h in sizes:
            window.resize(w, h)
            settle(500)
            path = out / f"{name}-{w}x{h}.png"
            if dialog is None:
                window.grab().save(str(path))
            else:
                dialog.move(window.x() + (w - dialog.width()) // 2, window.y() + (h - dialog.height()) // 3)
                settle(300)
                geo = window.frameGeometry()
                app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height()).save(str(path))
            written.append(path)
        window.resize(*sizes[0])

    # --- Dataset -----------------------------------------------------------------------------------
    loaded: list = []
    window.dataset_view.dataset_loaded.connect(loaded.append)
    t0 = time.perf_counter()
    window.open_dataset(None)  # the built-in demo (generated on first use into the temp cache)
    wait(lambda: loaded, 600, "the demo dataset")
    figures["demo_first_open_s"] = round(time.perf_counter() - t0, 3)  # generate it + import torch + scan
    loaded.clear()
    t0 = time.perf_counter()
    window.dataset_view.open_folder(None)  # again: what every later start costs
    wait(lambda: loaded, 60, "the demo dataset")
    figures["demo_index_to_counts_shown_s"] = round(time.perf_counter() - t0, 3)
    figures["demo_scan_dataset_ms"] = round(loaded[0].scan_s * 1000, 1)
    figures["demo_images"] = loaded[0].index.num_images
    view = window.dataset_view
    wait(lambda: view.model.cached_count() >= 20, 60, "thumbnails")  # the ones on screen
    wait(lambda: window.training_view.form.facts, 60, "model facts")
    settle()
    shoot("dataset")

    # --- Train: the panel's defaults, as a newcomer would press Start -------------------------------
    tv = window.training_view
    window.tabs.setCurrentIndex(1)
    stalls: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:  # a 5 ms heartbeat: gaps show how long the GUI thread was busy
        now = time.perf_counter()
        stalls.append(now - last[0])
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(tick)
    finished: list = []
    tv.run_finished.connect(finished.append)
    epochs_done: list = []
    from resnet_gui.engine import events as ev

    tv.engine_event.connect(lambda e: epochs_done.append(e) if isinstance(e, ev.EpochDone) else None)
    t0 = time.perf_counter()
    redraws0 = tv.plots.redraw_count
    heartbeat.start()
    last[0] = time.perf_counter()
    tv.start()
    target = max(2, tv.form.epochs.value() // 2 + 1)
    wait(lambda: len(epochs_done) >= target or finished, 600, "a few epochs")
    heartbeat.stop()  # the grabs themselves take a while: keep them out of the figures
    shoot("train")
    last[0] = time.perf_counter()
    heartbeat.start()
    wait(lambda: finished, 900, "training to finish")
    heartbeat.stop()
    wall = time.perf_counter() - t0
    figures["train_defaults"] = {
        "arch": tv.form.arch.currentData(),
        "epochs": tv.form.epochs.value(),
        "img_size": tv.result.img_size,
        "wall_s": round(wall, 1),
        "best_val_acc": tv.result.best_val_acc,
        "device": tv.result.device_name,
        "train_img_per_s": round(tv.result.train_img_per_s, 1),
    }
    figures["plot_redraws_per_s_while_training"] = round((tv.plots.redraw_count - redraws0) / wall, 2)
    gaps = sorted(stalls)
    figures["gui_heartbeat_5ms_gap_ms"] = {
        "median": round(gaps[len(gaps) // 2] * 1000, 1),
        "p99": round(gaps[int(len(gaps) * 0.99)] * 1000, 1),
        "max": round(gaps[-1] * 1000, 1),
    }
    settle()
    tv.bottom_tabs.setCurrentIndex(0)  # the log: what a finished run says
    shoot("train-done")

    # --- Classify: the trained model, unseen images dropped on the view ----------------------------
    iv = window.inference_view
    ckpts: list = []
    iv.checkpoint_loaded.connect(ckpts.append)
    tv.result_box.use_button.click()
    wait(lambda: ckpts, 120, "the checkpoint")
    from resnet_gui.engine.data.demo import make_demo_dataset

    unseen = make_demo_dataset(tmp / "unseen", per_class=3, size=64, seed=2024)
    files = sorted(unseen.glob("*/*.png"))
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: TID251
    from PySide6.QtGui import QDropEvent  # noqa: TID251

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in files])
    done: list = []
    iv.predictions_done.connect(done.append)
    iv.dropEvent(
        QDropEvent(
            QPointF(50, 50),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )
    wait(lambda: done, 120, "predictions")
    rows = iv.results.rows
    right = [i for i, r in enumerate(rows) if r.prediction.label and r.prediction.label in Path(r.path).name]
    iv.table.selectRow(right[0] if right else 0)  # show an answer the model got right, if any
    settle(600)
    shoot("classify")
    figures["classify_unseen"] = {
        "images": len(rows),
        "correct": len(right),
        "mean_total_ms": round(sum(r.prediction.timing_ms["total"] for r in rows) / len(rows), 2),
    }

    # --- Classify with Grad-CAM on, then the Model tab for the trained checkpoint ------------------
    cams: list = []
    iv.cam.overlay_ready.connect(cams.append)
    iv.cam.checkbox.setChecked(True)
    wait(lambda: cams, 120, "the Grad-CAM overlay")
    settle(400)
    shoot("classify-cam")
    described: list = []
    window.model_view.described.connect(described.append)
    window.tabs.setCurrentWidget(window.model_view)
    wait(lambda: described, 120, "the model description")
    settle(400)
    shoot("model")

    # --- Evaluation with 10 classes: drawn digits, a short run, a confusion cell clicked ----------
    digits = make_digits(tmp / "digits")
    loaded.clear()
    window.open_dataset(str(digits))
    wait(lambda: loaded, 60, "the digits dataset")
    window.tabs.setCurrentIndex(1)
    tv.form.epochs.setValue(10)
    tv.form.img_size.setValue(32)
    tv.form.batch_size.setValue(16)
    tv.form.augment.setCurrentText("none")  # a flipped 2 is no 2
    finished.clear()
    t0 = time.perf_counter()
    tv.start()
    wait(lambda: finished and tv.results.result is not None, 900, "the digits run and its evaluation")
    figures["train_digits_10_classes"] = {
        "epochs": 10,
        "img_size": 32,
        "batch_size": 16,
        "augment": "none",
        "wall_s": round(time.perf_counter() - t0, 1),
        "val_accuracy": round(tv.results.result.accuracy, 3),
    }
    settle(400)
    m = tv.results.result.confusion_matrix
    worst = max(((t, p) for t in range(len(m)) for p in range(len(m)) if t != p), key=lambda c: m[c[0]][c[1]])
    tv.results.filter_cell(*worst)  # the most common confusion, listed in the gallery
    settle(600)
    shoot("eval-10-classes")

    # --- Help -----------------------------------------------------------------------------------
    window.show_help(0)
    settle(400)
    shoot("help", dialog=window._help)
    window._help.close()
    window.close()
    print(json.dumps(figures, indent=2))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
