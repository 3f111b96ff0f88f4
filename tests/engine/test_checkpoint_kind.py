"""A .safetensors file is recognised by its header even when its length's first byte looks like a pickle."""

from __future__ import annotations

import json

import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import save_file

from resnet_gui.engine.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint


def test_header_length_starting_with_0x80_is_still_safetensors(tmp_path):
    src = save_checkpoint(
        tmp_path / "src.safetensors",
        torchvision.models.resnet18(num_classes=2),
        CheckpointMeta(arch="resnet18", classes=["a", "b"], img_size=32),
    )
    with safe_open(str(src), framework="pt") as f:
        header = json.loads(f.metadata()["resnet_gui"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    path = tmp_path / "x.safetensors"

    def write(pad: int) -> int:
        header["config"] = {"note": "x" * pad}
        save_file(tensors, str(path), metadata={"resnet_gui": json.dumps(header)})
        return int.from_bytes(path.read_bytes()[:8], "little")

    # the header is padded to 8 bytes, so 8 more characters make it exactly 8 bytes longer
    length = write(0)
    write((0x80 - length % 256) % 256)
    assert path.read_bytes()[0] == 0x80 and path.read_bytes()[8:9] == b"{"
    state, meta = load_checkpoint(path)
    assert meta.classes == ["a", "b"] and meta.source == "resnet-gui" and not meta.warnings
    assert torch.equal(state["fc.weight"], tensors["fc.weight"])
