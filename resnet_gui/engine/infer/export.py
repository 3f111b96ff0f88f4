"""Export a checkpoint to TorchScript or ONNX for use outside resnet-gui."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import warnings
from pathlib import Path

import torch

from resnet_gui.engine.data.transforms import eval_resize_size
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.fileio import atomic_write_bytes
from resnet_gui.engine.infer.trust import Trust  # the stored calibration, for `temperature`
from resnet_gui.engine.model.checkpoint import CheckpointMeta, load_model

log = logging.getLogger(__name__)
FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
METADATA_FILE = "resnet_gui.json"  # TorchScript extra file holding export_metadata()


def export_metadata(meta: CheckpointMeta) -> dict[str, str]:
    """What a program using the exported file needs, as strings (ONNX metadata props are strings).

    `classes` is one name per line and `mean`/`std` are comma-separated, as the first exports wrote them;
    `preprocessing` spells out the eval transform, so the logits match PyTorch's on the same image;
    `temperature` is the calibration the run fitted on its validation split (1.0 when none was kept), so
    softmax(logits / temperature) gives the probabilities `predict` and the app show.
    """
    resize = eval_resize_size(meta.img_size)
    trust = Trust.from_meta(meta.trust)
    temperature = trust.temperature if trust.calibrated else 1.0  # what the app's Predictor divides by
    return {
        "format": "resnet-gui",
        "arch": meta.arch,
        "classes": "\n".join(meta.classes),
        "num_classes": str(len(meta.classes)),
        "img_size": str(meta.img_size),
        "resize": str(resize),
        "mean": ",".join(map(str, meta.mean)),
        "std": ",".join(map(str, meta.std)),
        "preprocessing": (
            f"RGB; resize the short side to {resize} px (bilinear); centre-crop {meta.img_size}x{meta.img_size}; "
            "scale to [0, 1]; subtract mean and divide by std per channel; NCHW float32"
        ),
        "input": "image [batch, 3, img_size, img_size]",
        "output": "logits [batch, num_classes] (softmax(logits / temperature) for the app's probabilities)",
        "temperature": repr(float(temperature)),
        "resnet_gui_version": str((meta.versions or {}).get("resnet_gui", "")),
    }


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
            extra = {"classes.txt": "\n".join(meta.classes), METADATA_FILE: json.dumps(export_metadata(meta))}
            torch.jit.save(traced, buf, _extra_files=extra)
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
        for key, value in export_metadata(meta).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        buf = io.BytesIO(proto.SerializeToString())
    atomic_write_bytes(out, buf.getvalue())
    log.info("exported %s to %s", checkpoint, out)
    return out
