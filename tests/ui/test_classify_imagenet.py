"""Classify's ImageNet models: torchvision's category names, a download when missing, offline advice."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torchvision

from resnet_gui.ui.jobs_tools import imagenet_facts
from resnet_gui.ui.main_window import CLASSIFY_TAB
from tests._weights_server import closed_port_url, random_resnet18_bytes, serve_as_imagenet
from tests.ui.helpers import drop_paths

random_weights = functools.lru_cache(maxsize=1)(random_resnet18_bytes)
CATEGORIES = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


@pytest.fixture
def view(window):
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    return window.inference_view


@pytest.mark.slow
def test_imagenet_model_on_disk_classifies_with_category_names(qtbot, view, torch_home, tiny_dataset):
    torch_home.mkdir(parents=True)
    (torch_home / "resnet18-f37072fd.pth").write_bytes(random_weights())  # torchvision's file name
    picker = view.imagenet
    picker.set_facts(imagenet_facts())
    assert picker.actions_by_arch["resnet18"].text().endswith("on disk")
    assert "downloads 97.8 MB" in picker.actions_by_arch["resnet50"].text()
    with qtbot.waitSignal(view.checkpoint_loaded, timeout=60_000):
        picker.actions_by_arch["resnet18"].trigger()
    assert view.checkpoint == "imagenet:resnet18"
    assert "1000 classes" in view.model_label.text() and "tench" in view.model_label.text()
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        drop_paths(view, sorted(Path(tiny_dataset).glob("*/*.png"))[:1])
    title = view.detail.result_title.text().split(" — ")[0]
    assert title in CATEGORIES


@pytest.mark.slow
def test_missing_imagenet_model_downloads_then_loads(qtbot, view, server, torch_home, monkeypatch):
    name = serve_as_imagenet(monkeypatch, server, random_weights())
    picker = view.imagenet
    picker.set_facts(imagenet_facts())
    with qtbot.waitSignal(view.checkpoint_loaded, timeout=60_000):
        picker.actions_by_arch["resnet18"].trigger()
        assert picker.box.isVisible()  # the progress bar shows while it downloads
    assert (torch_home / name).is_file() and server.requests[name] == 1
    qtbot.waitUntil(lambda: not picker.box.isVisible())
    assert picker.actions_by_arch["resnet18"].text().endswith("on disk")


def test_unreachable_entry_says_so_and_how_to_get_them(qtbot, view, torch_home, monkeypatch):
    monkeypatch.setenv("RESNET_GUI_WEIGHTS_MIRROR", closed_port_url("").rstrip("/"))
    picker = view.imagenet
    picker.set_facts(imagenet_facts(probe=True))
    assert "cannot download here" in picker.actions_by_arch["resnet34"].text()
    with qtbot.waitSignal(view.error) as shown:
        picker.actions_by_arch["resnet34"].trigger()
    text = shown.args[0]
    assert "resnet34-b627a593.pth" in text and str(torch_home) in text and "Import weights file" in text
    assert view.message.isVisible() and view.checkpoint is None
