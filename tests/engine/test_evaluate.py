"""Evaluation: figures match a hand-computed crafted case, and every view of the result agrees."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torch import nn

from resnet_gui.engine.data.scan import Sample
from resnet_gui.engine.errors import DatasetError
from resnet_gui.engine.evaluate import evaluate_checkpoint, evaluate_model

CLASSES = ["a", "b", "c"]
# (true class, colour): the model below predicts from colour alone, so every outcome is known beforehand
CRAFTED = [
    ("a", (255, 0, 0)),
    ("a", (255, 0, 0)),
    ("a", (255, 128, 0)),  # a, less sure (green half on)
    ("a", (0, 255, 0)),  # a -> b
    ("b", (0, 255, 0)),
    ("b", (0, 255, 0)),
    ("b", (0, 0, 255)),  # b -> c
    ("c", (0, 0, 255)),
    ("c", (0, 0, 255)),
    ("c", (0, 64, 255)),  # c, less sure
    ("c", (255, 0, 0)),  # c -> a
]
SCALE = 4.0


class ColourModel(nn.Module):
    """logits = SCALE * mean RGB (inputs in 0..1: mean 0, std 1): red -> a, green -> b, blue -> c."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SCALE * x.mean(dim=(2, 3))


def _expected_probs(rgb: tuple[int, int, int]) -> list[float]:
    logits = [SCALE * v / 255 for v in rgb]  # ToTensor divides by 255
    z = sum(math.exp(v) for v in logits)
    return [math.exp(v) / z for v in logits]


@pytest.fixture
def crafted(tmp_path):
    samples = []
    for i, (cls, rgb) in enumerate(CRAFTED):
        folder = tmp_path / cls
        folder.mkdir(exist_ok=True)
        path = folder / f"{i:02d}.png"
        Image.new("RGB", (8, 8), rgb).save(path)
        samples.append(Sample(str(path), CLASSES.index(cls)))
    return samples


#: the colour model's classes and preprocessing (8 px, no normalisation)
SPEC = SimpleNamespace(classes=CLASSES, img_size=8, mean=(0, 0, 0), std=(1, 1, 1))


def _evaluate(samples, **kw):
    return evaluate_model(ColourModel(), samples, SPEC, batch_size=4, **kw)


def test_crafted_case_matches_hand_computed_figures(crafted):
    r = _evaluate(crafted)
    assert r.confusion_matrix == [[3, 1, 0], [0, 2, 1], [1, 0, 3]]
    assert sum(map(sum, r.confusion_matrix)) == r.num_images == len(CRAFTED)
    assert r.accuracy == pytest.approx(8 / 11)
    by_class = {row["class"]: row for row in r.per_class}
    # a: tp 3; predicted a: 4 (3 + the red c); true a: 4
    assert by_class["a"]["precision"] == pytest.approx(3 / 4)
    assert by_class["a"]["recall"] == pytest.approx(3 / 4)
    # b: tp 2; predicted b: 3 (2 + the green a); true b: 3
    assert by_class["b"]["precision"] == pytest.approx(2 / 3)
    assert by_class["b"]["recall"] == pytest.approx(2 / 3)
    assert by_class["b"]["f1"] == pytest.approx(2 / 3)
    # c: tp 3; predicted c: 4 (3 + the blue b); true c: 4
    assert by_class["c"]["precision"] == pytest.approx(3 / 4)
    assert by_class["c"]["recall"] == pytest.approx(3 / 4)
    assert [row["support"] for row in r.per_class] == [4, 3, 4]

    # per image: confidence, probability of the true class and loss from the softmax, by hand
    losses = []
    for rec, (cls, rgb) in zip(r.images, CRAFTED, strict=True):
        probs = _expected_probs(rgb)
        pred = max(range(3), key=probs.__getitem__)
        true = CLASSES.index(cls)
        assert rec["true"] == cls and rec["pred"] == CLASSES[pred]
        assert rec["prob"] == pytest.approx(probs[pred], rel=1e-4)
        assert rec["true_prob"] == pytest.approx(probs[true], rel=1e-4)
        assert rec["loss"] == pytest.approx(-math.log(probs[true]), rel=1e-4)
        losses.append(rec["loss"])
    assert r.loss == pytest.approx(sum(losses) / len(losses), rel=1e-5)


def test_misclassified_list_is_consistent_with_the_matrix(crafted):
    r = _evaluate(crafted)
    cm = r.confusion_matrix
    off_diagonal = sum(cm[i][j] for i in range(3) for j in range(3) if i != j)
    assert len(r.misclassified) == off_diagonal == r.num_images - sum(cm[i][i] for i in range(3))
    for i, t in enumerate(CLASSES):
        for j, p in enumerate(CLASSES):
            in_cell = [rec for rec in r.images if rec["true"] == t and rec["pred"] == p]
            wrong_in_cell = [m for m in r.misclassified if m["true"] == t and m["pred"] == p]
            assert len(in_cell) == cm[i][j]
            assert len(wrong_in_cell) == (cm[i][j] if i != j else 0)
    confidences = [m["prob"] for m in r.misclassified]
    assert confidences == sorted(confidences, reverse=True)  # most confidently wrong first
    expected_wrong = {
        s.path for s, (cls, rgb) in zip(crafted, CRAFTED, strict=True) if rgb[CLASSES.index(cls)] != 255
    }
    assert {m["path"] for m in r.misclassified} == expected_wrong


def test_unreadable_images_are_skipped_and_not_counted(crafted, tmp_path):
    bad = tmp_path / "a" / "broken.png"
    bad.write_bytes(b"not a png")
    r = _evaluate([*crafted, Sample(str(bad), 0)])
    assert r.num_images == len(CRAFTED)
    assert [s["path"] for s in r.skipped] == [str(bad)]
    assert sum(map(sum, r.confusion_matrix)) == len(CRAFTED)


def test_stop_flag_abandons_the_evaluation(crafted):
    stop = threading.Event()
    stop.set()
    assert _evaluate(crafted, stop=stop) is None


def test_nothing_readable_is_an_error(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    with pytest.raises(DatasetError):
        _evaluate([Sample(str(bad), 0)])


def test_evaluate_checkpoint_json_keeps_the_cli_contract(checkpoint, demo_dir):
    r = evaluate_checkpoint(checkpoint, demo_dir, device="cpu", workers=0, max_misclassified=2)
    doc = r.to_json()
    assert "images" not in doc and len(r.images) == r.num_images == 48
    assert len(doc["misclassified"]) == min(2, sum(rec["true"] != rec["pred"] for rec in r.images))
    for m in doc["misclassified"]:
        assert {"path", "true", "pred", "prob", "loss"} <= m.keys()
    summary = r.summary()
    assert summary["confusion_matrix"] == r.confusion_matrix and "images" not in summary


def test_a_checkpoint_is_evaluated_again_on_its_runs_own_val_split(trained, checkpoint):
    from resnet_gui.engine.evaluate import evaluate_run_split
    from resnet_gui.engine.model.checkpoint import load_checkpoint

    result, events = trained
    started = next(e for e in events if e.__class__.__name__ == "RunStarted")
    again = evaluate_run_split(checkpoint, device="cpu")
    assert again.num_images == started.num_val
    _, meta = load_checkpoint(checkpoint)
    stored = meta.metrics["eval"]  # written at the end of the run
    assert again.confusion_matrix == stored["confusion_matrix"]
    assert again.accuracy == pytest.approx(stored["accuracy"]) and again.loss == pytest.approx(stored["loss"])
    assert again.accuracy == pytest.approx(result.best_val_acc)
