"""Screenshots of docs/TRUST.md: an unknown answer (classify-unknown.png) and a video source (classify-video.png).

DISPLAY=:N python scripts/screenshots_trust.py CHECKPOINT OUT_DIR IMAGE...   (window 1280x720)
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp())
from PySide6.QtWidgets import QApplication

app = QApplication(sys.argv)
from resnet_gui.engine.infer.video import write_test_video  # noqa: E402  (after the QApplication)
from resnet_gui.ui.main_window import CLASSIFY_TAB, MainWindow  # noqa: E402

ck = sys.argv[1]
out = Path(sys.argv[2])
imgs = sys.argv[3:]
w = MainWindow(runs_dir=Path(tempfile.mkdtemp()))
w.resize(1280, 720)
w.show()


def wait(cond, t=120):
    t0 = time.time()
    while not cond() and time.time() - t0 < t:
        app.processEvents()
        time.sleep(0.02)


w.tabs.setCurrentIndex(CLASSIFY_TAB)
v = w.inference_view
v.load_checkpoint(ck)
wait(lambda: v.predictor is not None)
done = []
v.predictions_done.connect(done.append)
v.classify(imgs)
wait(lambda: done)
# select first unknown row
for i, r in enumerate(v.results.rows):
    if r.prediction.unknown:
        idx = v.proxy.mapFromSource(v.results.index(i, 0)).row()
        v.table.selectRow(idx)
        break
for _ in range(30):
    app.processEvents()
    time.sleep(0.02)
w.grab().save(str(out / "classify-unknown.png"))
print(
    [
        (r.name, r.prediction.label, round(r.prediction.confidence, 3), r.prediction.unknown)
        for r in v.results.rows
    ]
)
vid = write_test_video(Path(tempfile.mkdtemp()) / "shapes.avi", frames=150, size=240, fps=15, hold=15)
ended = []
v.video.ended.connect(ended.append)
v.open_video(str(vid))
wait(lambda: v.video.answers >= 8, 60)
for _ in range(10):
    app.processEvents()
    time.sleep(0.02)
w.grab().save(str(out / "classify-video.png"))
print(v.video.status.text())
v.video.close_source()
w.close()
