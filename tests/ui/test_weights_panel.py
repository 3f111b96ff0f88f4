"""The Train form's weights panel: download with progress (and Cancel), import, arch check when chosen."""

from __future__ import annotations

import torch
from PySide6.QtCore import Qt

from resnet_gui.ui.jobs_tools import imagenet_facts
from resnet_gui.ui.state import AppState
from resnet_gui.ui.train.form import PRETRAINED_FILE, PRETRAINED_IMAGENET, PRETRAINED_NONE, TrainForm
from tests._weights_server import saved, serve_as_imagenet, skeleton_resnet18


def _form(qtbot) -> TrainForm:
    form = TrainForm(AppState())
    qtbot.addWidget(form)
    form.arch.setCurrentIndex(form.arch.findData("resnet18"))
    form.pretrained.setCurrentIndex(PRETRAINED_NONE)
    form.weights.set_facts(imagenet_facts())  # what start_facts finds off-thread, here at once
    return form


def _choose_imagenet(form: TrainForm) -> None:
    form.pretrained.setCurrentIndex(PRETRAINED_IMAGENET)
    form._on_pretrained_activated(PRETRAINED_IMAGENET)  # what a click in the combo box does


def test_choosing_imagenet_downloads_with_progress(qtbot, server, torch_home, monkeypatch):
    name = serve_as_imagenet(monkeypatch, server, saved(skeleton_resnet18()))
    form = _form(qtbot)
    panel = form.weights
    form.pretrained.setCurrentIndex(PRETRAINED_IMAGENET)
    assert panel.download_button.isVisibleTo(form) and "not downloaded yet" in panel.status.text()
    assert panel.folder_label.text() == f"Weights folder: {torch_home}"
    assert panel.folder_label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    try:
        form.build_config("data", "out", None)
        raise AssertionError("Start must be refused before the weights are there")
    except ValueError as exc:
        assert "not downloaded" in str(exc)
    values: list[int] = []
    panel.box.bar.valueChanged.connect(values.append)
    with qtbot.waitSignal(panel.available, timeout=20_000):
        _choose_imagenet(form)
    qtbot.waitUntil(lambda: not panel.is_busy())
    assert (torch_home / name).is_file() and server.requests[name] == 1
    assert values and values[-1] == 1000  # the bar went to 100 %
    assert "are on disk" in panel.status.text() and not panel.download_button.isVisibleTo(form)
    assert form.build_config("data", "out", None).pretrained == "imagenet"


def test_cancel_keeps_nothing(qtbot, server, torch_home, monkeypatch):
    torch.manual_seed(0)
    name = serve_as_imagenet(monkeypatch, server, saved(skeleton_resnet18()))
    server.slow.add(name)
    form = _form(qtbot)
    panel = form.weights
    _choose_imagenet(form)
    assert panel.box.isVisibleTo(form)
    qtbot.waitUntil(lambda: panel.box.bar.value() > 0, timeout=20_000)
    qtbot.mouseClick(panel.box.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=20_000)
    assert "cancelled" in panel.status.text()
    assert not torch_home.exists() or list(torch_home.iterdir()) == []
    assert panel.download_button.isVisibleTo(form)  # can try again


def test_offline_download_says_url_and_folder(qtbot, torch_home, monkeypatch):
    from tests._weights_server import closed_port_url

    monkeypatch.setenv("RESNET_GUI_WEIGHTS_MIRROR", closed_port_url("").rstrip("/"))
    form = _form(qtbot)
    _choose_imagenet(form)
    qtbot.waitUntil(lambda: not form.weights.is_busy(), timeout=20_000)
    text = form.weights.status.text()
    assert "cannot download http://127.0.0.1:" in text and str(torch_home) in text
    assert form.weights.import_button.isVisibleTo(form)


def test_import_weights_file(qtbot, server, torch_home, monkeypatch, tmp_path):
    data = saved(skeleton_resnet18())
    name = serve_as_imagenet(monkeypatch, server, data)
    copy = tmp_path / "from-a-usb-stick.pth"
    copy.write_bytes(data)
    form = _form(qtbot)
    form.pretrained.setCurrentIndex(PRETRAINED_IMAGENET)
    with qtbot.waitSignal(form.weights.available, timeout=20_000):
        form.weights.import_file(str(copy))
    assert (torch_home / name).read_bytes() == data and server.requests[name] == 0
    assert form.imagenet["resnet18"][0] is True


def test_weights_of_another_arch_are_named_when_chosen(qtbot, torch_home, tmp_path):
    path = tmp_path / "backbone.pth"
    torch.save(skeleton_resnet18(5), path)
    form = _form(qtbot)
    form.arch.setCurrentIndex(form.arch.findData("resnet34"))
    form._set_pretrained_file(str(path))
    assert form.pretrained.currentIndex() == PRETRAINED_FILE
    qtbot.waitUntil(lambda: "ResNet-18 weights, but ResNet-34 is chosen" in form.weights.status.text())
    try:
        form.build_config("data", "out", None)
        raise AssertionError("Start must be refused with weights of another architecture")
    except ValueError as exc:
        assert "ResNet-34 is chosen" in str(exc)
    form.arch.setCurrentIndex(form.arch.findData("resnet18"))  # the right arch: the message goes
    qtbot.waitUntil(lambda: not form.weights.is_busy())
    assert "backbone.pth" in form.weights.status.text() and form.weights.problem() == ""
    assert form.build_config("data", "out", None).pretrained == str(path)
