"""Export a checkpoint to TorchScript or ONNX for use outside resnet-gui."""

from __future__ import annotations

import importlib.util
import io
import logging
import warnings
from pathlib import Path

import torch

from resnet_gui.engine.checkpoint import atomic_write_bytes, load_model
from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)
FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


def export_model(
    checkpoint: str | Path, fmt: str, out: str | Path | None = None, classes_file: str | Path | None = None
) -> Path:
    """Write the model (eval mode, input 1x3xSxS at the checkpoint's image size, dynamic batch) to `out`."""
    if fmt not in FORMATS:
        raise EngineError(f"unknown export format {fmt!r}; choose onnx or torchscript")
    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint.with_name(checkpoint.name.split(".")[0] + FORMATS[fmt])
    model, meta = load_model(checkpoint, device="cpu", classes_file=classes_file)
    example = torch.zeros(1, 3, meta.img_size, meta.img_size)
    buf = io.BytesIO()
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # jit is deprecated upstream but still the portable format
            traced = torch.jit.trace(model, example)
            torch.jit.save(traced, buf, _extra_files={"classes.txt": "\n".join(meta.classes)})
    else:
        if importlib.util.find_spec("onnx") is None:
            raise EngineError(
                "ONNX export needs the 'onnx' package: pip install onnx (or resnet-gui[export])"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                buf,
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
            )
        data = buf.getvalue()
        import onnx

        proto = onnx.load_from_string(data)
        for key, value in (
            ("classes", "\n".join(meta.classes)),
            ("arch", meta.arch),
            ("mean", ",".join(map(str, meta.mean))),
            ("std", ",".join(map(str, meta.std))),
        ):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        buf = io.BytesIO(proto.SerializeToString())
    atomic_write_bytes(out, buf.getvalue())
    log.info("exported %s to %s", checkpoint, out)
    return out
