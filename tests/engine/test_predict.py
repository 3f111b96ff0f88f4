"""Inference, evaluation and export on a checkpoint trained from the tiny demo data."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from PIL import Image

from resnet_gui.engine.evaluate import evaluate_checkpoint
from resnet_gui.engine.infer.export import export_model
from resnet_gui.engine.infer.predict import Predictor, expand_inputs
from resnet_gui.engine.model.checkpoint import load_checkpoint


def test_predictions_are_probabilities_with_positive_timings(checkpoint, demo_dir):
    p = Predictor(checkpoint, device="cpu")
    preds = p.predict(sorted((demo_dir / "circle").glob("*.png"))[:3], topk=10)
    for pred in preds:
        assert pred.error is None
        assert len(pred.topk) == 4  # k is capped at the number of classes
        assert sum(prob for _, prob in pred.topk) == pytest.approx(1.0, abs=1e-5)
        assert [prob for _, prob in pred.topk] == sorted((prob for _, prob in pred.topk), reverse=True)
        t = pred.timing_ms
        assert all(t[k] > 0 for k in ("load", "preprocess", "forward", "total"))
        assert t["total"] >= t["forward"]
    assert p.device_name.startswith("CPU")


def _temperature(meta) -> float:
    """The temperature the run kept (1.0 when calibration measured worse on its validation split)."""
    from resnet_gui.engine.infer.trust import Trust

    trust = Trust.from_meta(meta.trust)
    return trust.temperature if trust.calibrated else 1.0


def test_predictor_matches_a_manual_eval_pass(checkpoint, demo_dir):
    """Same preprocessing as training's eval transform, eval mode, softmax."""
    state, meta = load_checkpoint(checkpoint)
    model = torchvision.models.resnet18(num_classes=len(meta.classes))
    model.load_state_dict(state)
    model.eval()
    path = demo_dir / "star" / "star_0003.png"
    from resnet_gui.engine.data.transforms import build_eval_transform

    x = build_eval_transform(meta.img_size, meta.mean, meta.std)(Image.open(path).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        expected = torch.softmax(model(x) / _temperature(meta), 1)[0]  # calibrated, as Predictor shows
    pred = Predictor(checkpoint, device="cpu").predict_one(path, topk=4)
    got = dict(pred.topk)
    for i, name in enumerate(meta.classes):
        assert got[name] == pytest.approx(expected[i].item(), abs=1e-5)


def test_pil_input_and_bad_files(checkpoint, tmp_path):
    p = Predictor(checkpoint, device="cpu", warmup=False)
    img = Image.new("RGBA", (50, 40), (255, 0, 0, 128))
    assert p.predict_one(img).error is None
    (tmp_path / "notes.jpg").write_text("not an image")
    bad = p.predict([tmp_path / "notes.jpg", tmp_path / "missing.png"])
    assert bad[0].error and "not an image" in bad[0].error
    assert bad[1].error and "not found" in bad[1].error
    assert bad[0].to_json() == {"path": str(tmp_path / "notes.jpg"), "error": bad[0].error}


def test_expand_inputs_walks_folders(demo_dir):
    files = expand_inputs([demo_dir / "square", demo_dir / "circle" / "circle_0000.png"])
    assert len(files) == 13 and files[-1].name == "circle_0000.png"
    assert all(f.suffix == ".png" for f in files)


def test_seed_style_state_dict_classifies(checkpoint, tmp_path, demo_dir):
    """A plain torchvision script's `torch.save(model.state_dict())` + class_indices.json works."""
    state, meta = load_checkpoint(checkpoint)
    seed = tmp_path / "model.pth"
    torch.save({"model_state_dict": state, "epoch": 3}, seed)
    (tmp_path / "class_indices.json").write_text(json.dumps({str(i): c for i, c in enumerate(meta.classes)}))
    ours = Predictor(checkpoint, device="cpu", warmup=False)
    theirs = Predictor(seed, device="cpu", warmup=False)
    assert theirs.classes == meta.classes and theirs.meta.arch == "resnet18"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():  # the same weights came through the plain torch file
        assert torch.equal(theirs.model(x), ours.model(x))
    # seed-style files use the classic 224 preprocessing; they classify a file end to end
    pred = theirs.predict_one(demo_dir / "triangle" / "triangle_0001.png", topk=4)
    assert pred.error is None and sorted(c for c, _ in pred.topk) == sorted(meta.classes)
    assert theirs.meta.img_size == 224


def test_evaluate_reports_consistent_figures(checkpoint, demo_dir):
    r = evaluate_checkpoint(checkpoint, demo_dir, device="cpu", workers=0)
    cm = torch.tensor(r.confusion_matrix)
    assert cm.sum().item() == r.num_images == 48
    assert r.accuracy == pytest.approx(cm.diag().sum().item() / 48)
    assert [row["support"] for row in r.per_class] == [12, 12, 12, 12]
    assert len(r.misclassified) == 48 - cm.diag().sum().item()
    assert "accuracy" in r.to_table()


def test_export_torchscript_gives_same_logits(checkpoint, tmp_path):
    out = export_model(checkpoint, "torchscript", tmp_path / "m.pt")
    with pytest.warns(FutureWarning):  # torch.jit is deprecated upstream; the format still loads everywhere
        scripted = torch.jit.load(str(out))
    state, meta = load_checkpoint(checkpoint)
    model = torchvision.models.resnet18(num_classes=4)
    model.load_state_dict(state)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x), atol=1e-5)


def test_export_onnx_is_valid(checkpoint, tmp_path):
    onnx = pytest.importorskip("onnx")
    out = export_model(checkpoint, "onnx", tmp_path / "m.onnx")
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["classes"].split("\n") == ["circle", "square", "star", "triangle"]


def test_bench_reports_each_batch_size(checkpoint):
    from resnet_gui.engine.errors import EngineError
    from resnet_gui.engine.infer.bench import bench_checkpoint

    r = bench_checkpoint(checkpoint, batch_sizes=[1, 4], device="cpu", repeats=3)
    assert [row["batch_size"] for row in r["rows"]] == [1, 4]
    for row in r["rows"]:
        assert row["ms_per_batch"] > 0
        assert row["ms_per_image"] == pytest.approx(row["ms_per_batch"] / row["batch_size"])
        assert row["img_per_s"] == pytest.approx(1000 * row["batch_size"] / row["ms_per_batch"])
    with pytest.raises(EngineError):
        bench_checkpoint(checkpoint, batch_sizes=[0], device="cpu")
