"""The app state the views follow: setters publish changes, the window's views are wired to it."""

from __future__ import annotations

from resnet_gui.engine.config import DEFAULTS
from resnet_gui.ui.state import AppState


def test_setters_emit_on_change_and_loads_always(qtbot):
    state = AppState()
    arch, splits, ckpts = [], [], []
    state.arch_changed.connect(arch.append)
    state.val_split_changed.connect(splits.append)
    state.checkpoint_changed.connect(ckpts.append)
    assert state.arch == DEFAULTS.arch and state.val_split == DEFAULTS.val_split
    state.set_arch(DEFAULTS.arch)  # no change: no signal
    state.set_arch("resnet50")
    state.set_val_split(DEFAULTS.val_split)
    state.set_val_split(0.3)
    state.set_checkpoint("/x/best.safetensors")
    state.set_checkpoint("/x/best.safetensors")  # loading the same file again is news
    assert arch == ["resnet50"] and splits == [0.3] and ckpts == ["/x/best.safetensors"] * 2


def test_views_follow_the_state_not_each_other(qtbot, window):
    state = window.state
    form = window.training_view.form
    form.arch.setCurrentIndex(form.arch.findData("resnet34"))
    assert state.arch == "resnet34"
    form.val_split.setValue(30)
    assert state.val_split == 0.3
    problems = window.dataset_view.problems
    state.report_unreadable("/data/cat/broken.png", "truncated file")
    assert problems.count() == 1 and "broken.png" in problems.item(0).text()
