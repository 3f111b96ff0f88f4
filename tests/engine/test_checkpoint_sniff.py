"""A safetensors file whose header size starts with byte 0x80 is still read as safetensors, not a pickle."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from resnet_gui.engine.model.build import build_model
from resnet_gui.engine.model.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from resnet_gui.engine.model.weights import _kind


def test_header_size_with_a_pickle_like_first_byte(tmp_path: Path) -> None:
    model = build_model("resnet18", 3)
    path = tmp_path / "best.safetensors"

    def save(pad: int) -> bytes:
        meta = CheckpointMeta("resnet18", ["ants", "bees", "wasps"], 32, config={"note": "x" * pad})
        save_checkpoint(path, model, meta)
        with open(path, "rb") as f:
            return f.read(9)

    # pad the metadata until the 8-byte little-endian header size starts with 0x80 (1 file in 256)
    (size0,) = struct.unpack("<Q", save(0)[:8])
    pad = (0x80 - size0) % 256
    for _ in range(8):  # the header is padded to a multiple of 8 bytes: nudge if needed
        head = save(pad)
        if head[0] == 0x80:
            break
        pad += 1
    assert head[0] == 0x80 and head[8:9] == b"{"
    (size,) = struct.unpack("<Q", head[:8])
    assert json.loads(path.read_bytes()[8 : 8 + size])  # a genuine safetensors header
    assert _kind(path) == "safetensors"
    _, loaded = load_checkpoint(path)
    assert loaded.classes == ["ants", "bees", "wasps"] and loaded.config["note"] == "x" * pad
    # a real legacy pickle still reads as a torch file
    legacy = tmp_path / "legacy.pt"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    assert _kind(legacy) == "torch"
