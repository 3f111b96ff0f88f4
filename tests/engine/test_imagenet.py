"""`imagenet:ARCH` model specs (engine/model/imagenet.py) through the checkpoint loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_gui.engine.errors import CheckpointError, EngineError, PretrainedWeightsMissing
from resnet_gui.engine.model import imagenet
from resnet_gui.engine.model.checkpoint import load_checkpoint
from resnet_gui.engine.model.describe import describe_model
from tests._weights_server import skeleton_resnet18


def test_specs_are_recognised_and_checked() -> None:
    assert imagenet.is_spec("imagenet:resnet50") and imagenet.is_spec(Path("ImageNet:ResNet-50"))
    assert imagenet.parse_spec(" ImageNet:ResNet-50 ") == "resnet50"
    assert not imagenet.is_spec("checkpoints/best.safetensors")
    with pytest.raises(EngineError, match="imagenet:resnet18, imagenet:resnet34"):
        imagenet.parse_spec("imagenet:vgg16")


def test_missing_weights_say_how_to_get_them(torch_home: Path) -> None:
    with pytest.raises(PretrainedWeightsMissing) as info:
        load_checkpoint("imagenet:resnet50")
    message = str(info.value)
    assert "resnet50-11ad3fa6.pth" in message and str(torch_home) in message
    assert "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in message
    assert "Import weights file" in message


def test_cached_weights_load_with_categories_and_imagenet_preprocessing(torch_home: Path) -> None:
    torch_home.mkdir(parents=True)
    torch.save(skeleton_resnet18(), torch_home / "resnet18-f37072fd.pth")  # torchvision's name
    sd, meta = load_checkpoint("imagenet:resnet18")
    assert meta.arch == "resnet18" and meta.source == "imagenet" and len(meta.classes) == 1000
    assert meta.classes[:3] == ["tench", "goldfish", "great white shark"]
    assert meta.img_size == 224 and meta.mean == [0.485, 0.456, 0.406] and meta.std == [0.229, 0.224, 0.225]
    assert meta.metrics["imagenet_top1"] == pytest.approx(69.758)
    assert meta.created == ""  # not trained here
    assert sd["fc.weight"].shape == (1000, 512)
    with pytest.raises(CheckpointError, match="is resnet18 but resnet50 was asked for"):
        load_checkpoint("imagenet:resnet18", expected_arch="resnet50")


def test_a_cached_file_of_the_wrong_kind_is_named(torch_home: Path) -> None:
    torch_home.mkdir(parents=True)
    torch.save(skeleton_resnet18(10), torch_home / "resnet18-f37072fd.pth")
    with pytest.raises(CheckpointError, match="delete it and download it again"):
        load_checkpoint("imagenet:resnet18")


def test_describe_needs_no_weights(torch_home: Path) -> None:
    desc = describe_model("imagenet:resnet34")
    assert (desc.arch, desc.num_classes, desc.img_size) == ("resnet34", 1000, 224)
