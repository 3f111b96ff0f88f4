"""describe_model: figures agree with torchvision and the ResNet paper; rows in forward order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision

from resnet_gui.engine.config import ARCHS
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.model.build import build_model
from resnet_gui.engine.model.checkpoint import CheckpointMeta, save_checkpoint
from resnet_gui.engine.model.describe import ModelDescription, describe_model, human_number
from tests._fixtures import INSPECT_KEYS, INSPECT_LAYER_KEYS

# ResNet paper (He et al. 2015), table 1: "FLOPs" there are multiply-adds, x 10^9 at 224 px.
PAPER_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}


@pytest.fixture(scope="module")
def r18() -> ModelDescription:
    return describe_model("resnet18")


@pytest.fixture(scope="module")
def r50() -> ModelDescription:
    return describe_model("resnet50")


def by_name(desc: ModelDescription) -> dict:
    return {row.name: row for row in desc.layers}


def test_resnet18_params_and_macs_match_torchvision(r18: ModelDescription) -> None:
    with torch.device("meta"):
        reference = torchvision.models.resnet18()
    assert r18.params_total == sum(p.numel() for p in reference.parameters()) == 11_689_512
    assert r18.params_trainable == r18.params_total
    assert r18.macs_total == pytest.approx(1.814e9, rel=0.01)
    assert (r18.arch, r18.num_classes, r18.img_size) == ("resnet18", 1000, 224)


@pytest.mark.parametrize("arch", ARCHS)
def test_all_archs_match_torchvision_docs_and_the_paper(arch: str) -> None:
    desc = describe_model(arch)
    weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    assert desc.params_total == weights.meta["num_params"]
    assert desc.macs_total / 1e9 == pytest.approx(weights.meta["_ops"], rel=0.01)
    # torchvision's resnet50+ put the stride in the 3x3 conv ("v1.5"), hence up to ~8% above the paper.
    assert desc.macs_total / 1e9 == pytest.approx(PAPER_GMACS[arch], rel=0.08)


def test_resnet50_macs_range(r50: ModelDescription) -> None:
    assert 3.8e9 <= r50.macs_total <= 4.2e9


def test_rows_are_in_forward_order_and_add_up(r18: ModelDescription) -> None:
    names = [row.name for row in r18.layers]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert names[4:6] == ["layer1.0", "layer1.1"]
    assert names[-2:] == ["avgpool", "fc"]
    assert len(names) == 4 + 8 + 2
    assert sum(row.params for row in r18.layers) == r18.params_total
    assert sum(row.macs for row in r18.layers) == r18.macs_total
    rows = by_name(r18)
    assert rows["conv1"].output_shape == [64, 112, 112]
    assert rows["conv1"].macs == 64 * 112 * 112 * 3 * 7 * 7
    assert rows["fc"].output_shape == [1000]
    assert rows["fc"].params == 512 * 1000 + 1000


@pytest.mark.parametrize(
    ("desc_name", "block", "widths"),
    [("r18", "BasicBlock", (64, 128, 256, 512)), ("r50", "Bottleneck", (256, 512, 1024, 2048))],
)
def test_stage_outputs_and_block_types(
    request: pytest.FixtureRequest, desc_name: str, block: str, widths: tuple[int, ...]
) -> None:
    desc = request.getfixturevalue(desc_name)
    rows = by_name(desc)
    last_blocks = [
        max(
            (r for r in desc.layers if r.name.startswith(f"layer{i}.")),
            key=lambda r: int(r.name.split(".")[1]),
        )
        for i in (1, 2, 3, 4)
    ]
    assert [r.output_shape for r in last_blocks] == [
        [widths[0], 56, 56],
        [widths[1], 28, 28],
        [widths[2], 14, 14],
        [widths[3], 7, 7],
    ]
    assert {r.type for r in desc.layers if r.name.startswith("layer")} == {block}
    assert rows["avgpool"].output_shape == [widths[3], 1, 1]


def test_leaves_granularity(r50: ModelDescription) -> None:
    leaves = describe_model("resnet50", leaves=True)
    names = [r.name for r in leaves.layers]
    assert "layer1.0.conv3" in names and "layer1.0.downsample.0" in names
    assert names.count("layer1.0.relu") == 3  # the block reuses its ReLU: one row per call
    assert sum(r.params for r in leaves.layers) == r50.params_total == leaves.params_total
    assert sum(r.macs for r in leaves.layers) == r50.macs_total
    assert {r.type for r in leaves.layers} >= {"Conv2d", "BatchNorm2d", "ReLU", "Linear"}


def test_small_images_classes_and_frozen_backbone() -> None:
    desc = describe_model("resnet18", num_classes=3, img_size=64, freeze_backbone=True)
    rows = by_name(desc)
    assert rows["layer4.1"].output_shape == [512, 2, 2]
    assert rows["fc"].output_shape == [3]
    assert desc.params_trainable == 512 * 3 + 3
    assert desc.macs_total == pytest.approx(1.814e9 / 12.25, rel=0.02)


def test_describe_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, build_model("resnet18", 2), CheckpointMeta("resnet18", ["cat", "dog"], 96))
    desc = describe_model(str(path))
    assert (desc.arch, desc.num_classes, desc.img_size) == ("resnet18", 2, 96)
    assert by_name(desc)["layer4.1"].output_shape == [512, 3, 3]
    assert describe_model(path, img_size=224).img_size == 224


def test_unknown_name_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="neither an architecture"):
        describe_model("resnet9000")


def test_json_matches_cli_contract(r18: ModelDescription) -> None:
    data = json.loads(json.dumps(r18.to_json()))
    assert set(data) == INSPECT_KEYS
    assert set(data["layers"][0]) == INSPECT_LAYER_KEYS
    assert data["layers"][4]["type"] == "BasicBlock"


def test_table_is_aligned_and_human(r18: ModelDescription) -> None:
    table = r18.to_table()
    assert "11.7M" in table and "1.81G" in table and "BasicBlock" in table
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    column = header.index("Type")
    assert all(
        line[column - 2 : column] == "  " for line in lines if line.startswith(("conv1", "layer", "fc"))
    )


def test_human_number() -> None:
    assert human_number(0) == "-"
    assert human_number(128) == "128"
    assert human_number(9408) == "9.41K"
    assert human_number(11_689_512) == "11.7M"
    assert human_number(1_814_073_344) == "1.81G"


def test_shape_summary_names_the_block_and_the_stage_sizes(
    r18: ModelDescription, r50: ModelDescription
) -> None:
    s18, s50 = r18.shape_summary(), r50.shape_summary()
    assert s18 == {
        "block": "BasicBlock",
        "blocks": [2, 2, 2, 2],
        "stem": 112,
        "sizes": [112, 56, 28, 14, 7],
        "channels": [64, 128, 256, 512],
    }
    assert (s50["block"], s50["blocks"], s50["sizes"]) == ("Bottleneck", [3, 4, 6, 3], [112, 56, 28, 14, 7])
    assert s50["channels"] == [256, 512, 1024, 2048]
    assert r18.shape_text() == (
        "BasicBlock x [2, 2, 2, 2]; feature maps 112-56-28-14-7 px; channels 64-128-256-512"
    )
    assert "Bottleneck x [3, 4, 6, 3]" in r50.to_table()
    small = describe_model("resnet34", num_classes=3, img_size=64).shape_summary()
    assert (small["blocks"], small["sizes"]) == ([3, 4, 6, 3], [32, 16, 8, 4, 2])
