"""build_model, pretrained weights from the hub cache (never downloaded), infer_arch, arch_summary."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from resnet_gui.engine.config import ARCHS
from resnet_gui.engine.errors import CheckpointError, EngineError, PretrainedWeightsMissing
from resnet_gui.engine.model import build as models
from resnet_gui.engine.model.build import (
    arch_summary,
    backbone_and_head_params,
    build_model,
    imagenet_weights_available,
    imagenet_weights_file,
    set_train_mode,
)
from resnet_gui.engine.model.checkpoint import CheckpointMeta, save_checkpoint
from resnet_gui.engine.model.weights import infer_arch, num_classes_of


def meta_state_dict(arch: str, num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """Keys and shapes of a torchvision model without allocating its weights."""
    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(num_classes=num_classes)
    return model.state_dict()


def skeleton_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """Real but tiny tensors with the keys of `arch` (enough for infer_arch, cheap to save)."""
    keep = {"layer1.0.conv1.weight", "layer1.0.conv2.weight", "fc.weight"}
    return {
        k: torch.zeros(v.shape) if k in keep else torch.zeros(1) for k, v in meta_state_dict(arch).items()
    }


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache in tmp (TORCH_HOME), so nothing real is found or written."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    hub_dir = Path(torch.hub.get_dir())
    assert hub_dir == tmp_path / "torch" / "hub"
    return hub_dir


def test_output_shape_for_n_classes() -> None:
    model = build_model("resnet18", 3).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3)
    assert model.fc.out_features == 3


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_builds_with_its_head(arch: str) -> None:
    with torch.device("meta"):
        model = build_model(arch, 7)
        out = model(torch.empty(1, 3, 64, 64))
    assert out.shape == (1, 7)
    expected = 512 if arch in ("resnet18", "resnet34") else 2048
    assert model.fc.in_features == expected


def test_bad_arguments_are_engine_errors() -> None:
    with pytest.raises(EngineError, match="unknown architecture 'resnet19'"):
        build_model("resnet19", 3)
    with pytest.raises(EngineError, match="positive whole number"):
        build_model("resnet18", 0)


def test_zero_init_residual() -> None:
    model = build_model("resnet18", 2, zero_init_residual=True)
    assert torch.count_nonzero(model.layer1[0].bn2.weight) == 0
    model = build_model("resnet18", 2)
    assert torch.count_nonzero(model.layer1[0].bn2.weight) > 0


def test_freeze_backbone_leaves_only_fc_trainable() -> None:
    model = build_model("resnet18", 4, freeze_backbone=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    backbone, head = backbone_and_head_params(model)
    assert backbone == []
    assert {id(p) for p in head} == {id(model.fc.weight), id(model.fc.bias)}


def test_backbone_and_head_split_everything_when_not_frozen() -> None:
    model = build_model("resnet18", 4)
    backbone, head = backbone_and_head_params(model)
    assert len(head) == 2
    assert len(backbone) + len(head) == len(list(model.parameters()))


def test_set_train_mode_keeps_frozen_batchnorm_statistics() -> None:
    model = build_model("resnet18", 2, freeze_backbone=True)
    set_train_mode(model, freeze_backbone=True)
    assert model.training and model.fc.training
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = model.bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(model.bn1.running_mean, before)

    set_train_mode(model, freeze_backbone=False)
    assert all(m.training for m in bns)
    model(torch.randn(2, 3, 32, 32))
    assert not torch.equal(model.bn1.running_mean, before)


def test_imagenet_missing_names_file_folder_and_url(hub: Path) -> None:
    assert not imagenet_weights_available("resnet18")
    assert imagenet_weights_file("resnet18") == hub / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(PretrainedWeightsMissing) as info:
        build_model("resnet18", 3, pretrained="imagenet")
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message
    assert str(hub / "checkpoints") in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "--pretrained PATH" in message
    assert not (hub / "checkpoints").exists()  # nothing was downloaded or created


def test_imagenet_missing_resnet50_mentions_both_versions(hub: Path) -> None:
    with pytest.raises(PretrainedWeightsMissing) as info:
        build_model("resnet50", 3, pretrained="imagenet")
    assert "resnet50-0676ba61.pth" in str(info.value)  # IMAGENET1K_V1
    assert "resnet50-11ad3fa6.pth" in str(info.value)  # IMAGENET1K_V2


def test_resnet50_prefers_v2_file_when_present(hub: Path) -> None:
    folder = hub / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "resnet50-0676ba61.pth").write_bytes(b"v1")
    assert imagenet_weights_file("resnet50").name == "resnet50-0676ba61.pth"
    (folder / "resnet50-11ad3fa6.pth").write_bytes(b"v2")
    assert imagenet_weights_file("resnet50").name == "resnet50-11ad3fa6.pth"
    assert imagenet_weights_available("resnet50")


def test_imagenet_present_in_cache_is_loaded(hub: Path) -> None:
    source = torchvision.models.resnet18(weights=None)
    path = hub / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    assert imagenet_weights_available("resnet18")

    model = build_model("resnet18", 3, pretrained="imagenet")
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert model.fc.weight.shape == (3, 512)  # new head for 3 classes

    same_head = build_model("resnet18", 1000, pretrained="imagenet")
    assert torch.equal(same_head.fc.weight, source.fc.weight)


def test_pretrained_from_a_path_pth_and_safetensors(tmp_path: Path) -> None:
    source = build_model("resnet18", 10)
    pth = tmp_path / "weights.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, pth)
    model = build_model("resnet18", 3, pretrained=str(pth))
    assert torch.equal(model.layer2[0].conv1.weight, source.layer2[0].conv1.weight)
    assert model.fc.out_features == 3

    ours = save_checkpoint(
        tmp_path / "ours.safetensors", source, CheckpointMeta("resnet18", [str(i) for i in range(10)], 32)
    )
    model = build_model("resnet18", 10, pretrained=ours, freeze_backbone=True)
    assert torch.equal(model.fc.weight, source.fc.weight)
    assert not model.conv1.weight.requires_grad


def test_pretrained_of_another_arch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r34.pth"
    torch.save(skeleton_state_dict("resnet34"), path)
    with pytest.raises(CheckpointError, match="r34.pth holds resnet34 weights but resnet18 was asked for"):
        build_model("resnet18", 3, pretrained=path)


def test_pretrained_path_missing(tmp_path: Path) -> None:
    with pytest.raises(PretrainedWeightsMissing, match="not found"):
        build_model("resnet18", 3, pretrained=str(tmp_path / "nope.pth"))


@pytest.mark.parametrize("arch", ARCHS)
def test_infer_arch_from_keys(arch: str) -> None:
    sd = meta_state_dict(arch, num_classes=5)
    assert infer_arch(sd) == arch
    assert infer_arch({f"module.{k}": v for k, v in sd.items()}) == arch
    assert num_classes_of(sd) == 5


def test_infer_arch_refuses_other_networks() -> None:
    with pytest.raises(CheckpointError, match="not a torchvision ResNet"):
        infer_arch({"features.0.weight": torch.zeros(1), "classifier.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="wide ResNet or ResNeXt"), torch.device("meta"):
        infer_arch(torchvision.models.wide_resnet50_2().state_dict())
    sd = {k: v for k, v in meta_state_dict("resnet18").items() if not k.startswith("layer4.1.")}
    with pytest.raises(CheckpointError, match=r"\[2, 2, 2, 1\] basic blocks"):
        infer_arch(sd)
    with pytest.raises(CheckpointError, match="fc.weight"):
        num_classes_of({"conv1.weight": torch.zeros(1)})


def test_arch_summary_matches_torchvision_and_is_cached() -> None:
    summary = arch_summary("resnet18")
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert summary["params"] == weights.meta["num_params"] == 11_689_512
    assert summary["gflops"] == pytest.approx(weights.meta["_ops"], rel=0.01)
    hits = models._summary.cache_info().hits
    assert arch_summary("resnet18") == summary
    assert models._summary.cache_info().hits == hits + 1
    small = arch_summary("resnet18", img_size=32, num_classes=3)
    assert small["params"] == 11_689_512 - 997 * 513
    assert small["gflops"] < summary["gflops"] / 40
