"""The live plots draw at most a few times a second, however fast the points arrive."""

from __future__ import annotations

from resnet_gui.ui.train.plots import TrainingPlots


def test_redraws_are_throttled_and_nothing_is_lost(qtbot):
    plots = TrainingPlots(max_fps=5.0)
    qtbot.addWidget(plots)
    before = plots.redraw_count
    for i in range(200):  # 200 step events in a burst
        plots.add_step(i / 100, 1.0 / (1 + i))
    plots.add_epoch(1, 0.9, 0.5, 1.0, 0.4)
    assert plots.redraw_count == before  # nothing drawn inside the burst: the GUI thread stays free
    qtbot.wait(700)  # about three 200 ms timer ticks
    assert 1 <= plots.redraw_count - before <= 4
    counts = plots.point_counts()
    assert counts["step"] == counts["smoothed"] == 200
    assert counts["train_loss"] == counts["val_loss"] == counts["train_acc"] == counts["val_acc"] == 1
