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


def test_live_ranges_are_set_by_hand_and_auto_range_returns_at_the_end(qtbot):
    plots = TrainingPlots(max_fps=50.0)
    qtbot.addWidget(plots)
    plots.resize(800, 300)
    plots.show()
    vb = plots.loss_plot.getPlotItem().getViewBox()
    for i in range(1, 31):
        plots.add_step(i / 10, 2.0 / i)
    plots.flush()
    assert vb.autoRangeEnabled() == [False, False]  # no auto-range pass (and full repaint) per update
    (x0, x1), (y0, y1) = vb.viewRange()
    assert x0 <= 0.1 and x1 >= 3.0 and y0 <= 2.0 / 30 and y1 >= 2.0  # every point in view
    acc = plots.acc_plot.getPlotItem().getViewBox()
    assert acc.viewRange()[1][0] <= 0 and acc.viewRange()[1][1] >= 100  # accuracy stays 0-100 %
    plots.stop_live()
    assert vb.autoRangeEnabled()[0] and vb.autoRangeEnabled()[1]  # pyqtgraph's own again
    assert acc.autoRangeEnabled()[1] is False  # the accuracy plot's fixed y range is kept


def test_a_zoom_by_hand_stops_the_following(qtbot):
    plots = TrainingPlots(max_fps=50.0)
    qtbot.addWidget(plots)
    vb = plots.loss_plot.getPlotItem().getViewBox()
    plots.add_step(0.1, 1.0)
    plots.flush()
    vb.setXRange(0, 0.5, padding=0)
    vb.sigRangeChangedManually.emit([True, False])  # as a mouse-wheel zoom on x does
    for i in range(2, 40):
        plots.add_step(i / 10, 1.0 / i)
    plots.flush()
    assert vb.viewRange()[0] == [0, 0.5]  # x left as the user set it
    assert vb.viewRange()[1][0] <= 1.0 / 39  # y still follows the data
