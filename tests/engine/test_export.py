"""Exported ONNX and TorchScript files reproduce PyTorch's logits and carry classes + preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.infer.export import export_model
from resnet_gui.engine.infer.predict import Predictor
from resnet_gui.engine.model.checkpoint import load_model
from tests._fixtures import read_export_metadata

CLASSES = ["circle", "square", "star", "triangle"]


def preprocess_from_metadata(path, meta: dict[str, str]) -> np.ndarray:
    """The recipe in the file's metadata, written with PIL + numpy only, as a user of the file would."""
    img = Image.open(path).convert("RGB")
    resize, size = int(meta["resize"]), int(meta["img_size"])
    w, h = img.size
    scale = resize / min(w, h)
    img = img.resize((max(resize, int(w * scale)), max(resize, int(h * scale))), Image.BILINEAR)
    left, top = round((img.width - size) / 2), round((img.height - size) / 2)
    img = img.crop((left, top, left + size, top + size))
    x = np.asarray(img, np.float32) / 255.0
    mean = np.array([float(v) for v in meta["mean"].split(",")], np.float32)
    std = np.array([float(v) for v in meta["std"].split(",")], np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)[None]


def test_onnx_reproduces_pytorch_logits(checkpoint, demo_dir, tmp_path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out = export_model(checkpoint, "onnx", tmp_path / "m.onnx")
    model, meta = load_model(checkpoint, device="cpu")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    x = torch.randn(3, 3, meta.img_size, meta.img_size)  # a batch of 3: the batch axis is dynamic
    (logits,) = session.run(["logits"], {"image": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert logits.shape == (3, 4)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)

    # end to end: the stored recipe + the ONNX model give the Predictor's answer on a real file
    props = read_export_metadata(out)
    assert props["classes"].split("\n") == CLASSES
    assert (props["arch"], props["img_size"], props["format"]) == ("resnet18", "32", "resnet-gui")
    image = demo_dir / "star" / "star_0004.png"
    (logits,) = session.run(["logits"], {"image": preprocess_from_metadata(image, props)})
    temperature = float(props["temperature"])  # the calibration the Predictor applies too
    probs = torch.softmax(torch.from_numpy(logits) / temperature, 1)[0]
    pred = Predictor(checkpoint, device="cpu", warmup=False).predict_one(image, topk=4)
    for name, prob in pred.topk:
        assert probs[CLASSES.index(name)].item() == pytest.approx(prob, abs=2e-3)


def test_torchscript_reproduces_logits_and_carries_metadata(checkpoint, tmp_path) -> None:
    out = export_model(checkpoint, "torchscript", tmp_path / "m.torchscript.pt")
    model, meta = load_model(checkpoint, device="cpu")
    with pytest.warns(FutureWarning):  # torch.jit is deprecated upstream; the format still loads
        scripted = torch.jit.load(str(out))
    x = torch.randn(5, 3, meta.img_size, meta.img_size)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=1e-5, atol=1e-5)
    props = read_export_metadata(out)
    assert props["classes"].split("\n") == CLASSES
    assert [float(v) for v in props["mean"].split(",")] == pytest.approx(meta.mean)
    assert [float(v) for v in props["std"].split(",")] == pytest.approx(meta.std)
    assert (
        props["resize"] == str(round(meta.img_size * 256 / 224)) and "centre-crop" in props["preprocessing"]
    )


def test_unknown_format(checkpoint, tmp_path) -> None:
    with pytest.raises(EngineError, match="onnx or torchscript"):
        export_model(checkpoint, "tflite", tmp_path / "m.tflite")
