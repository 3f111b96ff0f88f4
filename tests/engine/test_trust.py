"""Predictions you can trust: temperature scaling, ECE, open-set thresholds, stored in the checkpoint and
used by predict, the batch CSV, Grad-CAM and eval (engine/infer/trust.py, calibrate.py, openset.py)."""

from __future__ import annotations

import csv

import pytest
import torch
from PIL import Image

from resnet_gui.engine.evaluate import evaluate_checkpoint
from resnet_gui.engine.infer import calibrate, openset
from resnet_gui.engine.infer.gradcam import explain
from resnet_gui.engine.infer.predict import CSV_HEADER, Predictor, write_predictions_csv
from resnet_gui.engine.infer.trust import Trust, trust_from_outputs
from resnet_gui.engine.model.checkpoint import load_checkpoint
from resnet_gui.engine.model.weights import read_metadata


def _sampled(t_true: float, n: int = 4000, c: int = 5, seed: int = 0):
    """Logits and labels drawn from softmax(logits / t_true): calibrated at exactly t_true."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g) * 4
    labels = torch.multinomial((logits / t_true).softmax(1), 1, generator=g)[:, 0]
    return logits, labels


def test_fit_temperature_recovers_the_true_temperature_and_lowers_ece():
    logits, labels = _sampled(2.5)
    t = calibrate.fit_temperature(logits, labels)
    assert t == pytest.approx(2.5, rel=0.1)
    before = calibrate.ece(logits.softmax(1), labels)
    after = calibrate.ece((logits / t).softmax(1), labels)
    assert after < before / 2  # the raw logits are overconfident by a factor 2.5
    assert calibrate.nll(logits, labels, t) < calibrate.nll(logits, labels)


def test_a_perfectly_separated_split_keeps_temperature_one():
    """Every validation image right with a margin: the NLL keeps falling as T -> 0, so the fit would run
    to T_RANGE's low end and show 100% for everything. No temperature can be read from it: 1.0."""
    labels = torch.arange(40) % 4
    logits = torch.randn(40, 4, generator=torch.Generator().manual_seed(1)) * 0.5
    logits[torch.arange(40), labels] += 4.0  # the right class always wins
    assert (logits.argmax(1) == labels).all()
    assert calibrate.fit_temperature(logits, labels) == 1.0
    assert calibrate.nll(logits, labels, calibrate.T_RANGE[0]) < calibrate.nll(logits, labels)  # why
    logits, labels = _sampled(0.5)  # a real under-confident model still gets its T < 1
    assert calibrate.fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.1)


def test_ece_is_zero_for_exact_confidence_and_the_gap_otherwise():
    labels = torch.tensor([0, 0, 0, 1])
    probs = torch.tensor([[0.75, 0.25]] * 4)  # 75% confident, 3 of 4 right
    assert calibrate.ece(probs, labels) == pytest.approx(0.0)
    assert calibrate.ece(torch.tensor([[0.95, 0.05]] * 4), labels) == pytest.approx(0.2)
    rows = calibrate.reliability(probs, labels)
    assert len(rows) == calibrate.ECE_BINS and sum(r["count"] for r in rows) == 4


def test_quantile_table_rejects_at_most_the_rate_of_new_images():
    torch.manual_seed(0)
    val, fresh = torch.randn(2000), torch.randn(20000)
    table = openset.quantile_table(val)
    assert len(table) == openset.RATE_STEPS + 1
    assert all(a <= b for a, b in zip(table, table[1:], strict=False))
    assert float((val < table[0]).float().mean()) == 0.0  # 0%: none of the validation images
    for rate in (0.01, 0.05, 0.2):
        thr = openset.threshold_at(table, rate)
        assert float((val < thr).float().mean()) <= rate
        assert float((fresh < thr).float().mean()) == pytest.approx(rate, abs=0.03)
    assert openset.threshold_at(table, 0.0) is None  # strictness 0: rejection off


def test_scores_order_in_and_out_of_distribution():
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    cents = openset.centroids_of(feats[:2], torch.tensor([0, 1]), 2)
    s = openset.score("centroid", torch.zeros(3, 2), feats, 1.0, cents)
    assert s[0] == pytest.approx(1.0) and s[2] < s[0]
    sure, unsure = torch.tensor([[8.0, 0.0]]), torch.tensor([[0.1, 0.0]])
    for kind in ("msp", "energy"):
        assert openset.score(kind, sure) > openset.score(kind, unsure)


def test_trust_round_trips_through_metadata_and_unknown_follows_the_threshold():
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(60) % 3
    feats = torch.nn.functional.one_hot(labels, 3).float() + 0.05 * torch.randn(60, 3, generator=g)
    logits = feats * 6
    trust = trust_from_outputs(logits, feats, labels, num_classes=3, score="centroid")
    back = Trust.from_meta(trust.to_meta())
    assert (
        back.available and back.score == "centroid" and back.temperature == pytest.approx(trust.temperature)
    )
    assert torch.allclose(back.centroids, trust.centroids, atol=1e-3)  # float16 storage
    inside = back.answer(logits[:1], feats[:1])
    outside = back.answer(torch.zeros(1, 3), torch.tensor([[-1.0, -1.0, 1.0]]))
    assert inside.unknown == [False] and outside.unknown == [True]
    assert back.answer(torch.zeros(1, 3), torch.tensor([[-1.0, -1.0, 1.0]]), rate=0.0).unknown is None


def test_without_stored_fields_probabilities_are_plain_softmax_and_nothing_is_rejected():
    for data in (None, {}, {"temperature": -1}, {"score": "bogus", "quantiles": {}}):
        t = Trust.from_meta(data)
        assert not t.available and t.temperature == 1.0
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    a = Trust.unavailable().answer(logits)
    assert torch.allclose(a.probs, logits.softmax(1)) and a.unknown is None and a.scores is None


def test_training_stores_the_fit_in_the_best_checkpoint(checkpoint):
    trust = read_metadata(checkpoint)["trust"]
    assert trust["temperature"] > 0 and trust["score"] == "centroid"
    assert set(trust["quantiles"]) == set(openset.SCORES) and trust["threshold"] is not None
    assert trust["ece_after"] <= trust["ece_before"]
    _weights, meta = load_checkpoint(checkpoint)
    assert Trust.from_meta(meta.trust).available


def test_predict_uses_the_calibration_and_reports_the_verdict(checkpoint, demo_dir, tmp_path):
    pred = Predictor(checkpoint, device="cpu")
    img = sorted(demo_dir.glob("star/*.png"))[0]
    p = pred.predict_one(img)
    x = pred.transform(Image.open(img).convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        expected = (pred.model(x) / pred.trust.temperature).softmax(1).max().item()
    assert p.confidence == pytest.approx(expected, abs=1e-5)
    assert isinstance(p.unknown, bool) and p.ood_score is not None
    assert {"unknown", "ood_score"} <= set(p.to_json())
    pred.rate = 0.0
    assert pred.predict_one(img).unknown is None  # strictness off
    pred.rate = None
    write_predictions_csv([p], tmp_path / "p.csv")
    row = dict(
        zip(CSV_HEADER, list(csv.reader((tmp_path / "p.csv").read_text().splitlines()))[1], strict=True)
    )
    assert row["unknown"] in ("true", "false") and float(row["ood_score"]) == pytest.approx(
        p.ood_score, abs=1e-5
    )


def test_one_image_gives_one_number_predict_and_gradcam(checkpoint, tmp_path):
    """A camera-size JPEG: predict decodes it reduced; Grad-CAM of the same file reads it the same way."""
    from resnet_gui.engine.data.demo import draw_shape

    path = tmp_path / "big.jpg"
    draw_shape("star", 640, __import__("numpy").random.default_rng(3)).save(path, quality=90)
    pred = Predictor(checkpoint, device="cpu")
    p = pred.predict_one(path)
    cam = explain(pred, path)
    assert cam.class_name == p.label
    assert cam.prob == pytest.approx(p.confidence, abs=1e-5)


def test_tta_averages_the_mirror(checkpoint, demo_dir):
    pred = Predictor(checkpoint, device="cpu")
    img = sorted(demo_dir.glob("triangle/*.png"))[0]
    x = pred.transform(Image.open(img).convert("RGB")).unsqueeze(0)
    pred.tta = True
    got = pred.predict_one(img, topk=4)
    with torch.inference_mode():
        z = (pred.model(x) + pred.model(torch.flip(x, dims=[3]))) / 2
    probs = (z / pred.trust.temperature).softmax(1)[0]
    assert dict(got.topk)[pred.classes[int(probs.argmax())]] == pytest.approx(probs.max().item(), abs=1e-5)


def test_eval_reports_calibration_and_tta(checkpoint, demo_dir):
    r = evaluate_checkpoint(checkpoint, demo_dir, device="cpu", workers=0)
    cal = r.to_json()["calibration"]
    assert set(cal) == {"temperature", "ece_before", "ece_after", "reliability_before", "reliability_after"}
    for key in ("reliability_before", "reliability_after"):  # the diagram's 15 bins hold every image once
        assert len(cal[key]) == 15 and sum(b["count"] for b in cal[key]) == r.num_images
    assert cal["temperature"] == pytest.approx(read_metadata(checkpoint)["trust"]["temperature"])
    assert "calibration: temperature" in r.to_table()
    t = evaluate_checkpoint(checkpoint, demo_dir, device="cpu", workers=0, tta=True)
    assert t.tta and t.num_images == r.num_images


def test_seed_style_checkpoint_has_no_rejection(checkpoint, tmp_path, demo_dir):
    weights, meta = load_checkpoint(checkpoint)
    raw = tmp_path / "plain.pt"
    torch.save(weights, raw)
    (tmp_path / "class_indices.json").write_text(__import__("json").dumps(meta.classes))
    pred = Predictor(raw, device="cpu")
    assert not pred.trust.available and pred.info()["openset"] is None
    p = pred.predict_one(sorted(demo_dir.glob("circle/*.png"))[0])
    assert p.unknown is None and p.ood_score is None
    assert sum(v for _c, v in p.topk) == pytest.approx(1.0, abs=1e-4)  # plain softmax


def test_leave_one_out_scores_are_what_new_images_of_the_class_get():
    g = torch.Generator().manual_seed(2)
    labels = torch.arange(40) % 2
    feats = torch.nn.functional.one_hot(labels, 2).float() + 0.5 * torch.randn(40, 2, generator=g)
    cents = openset.centroids_of(feats, labels, 2)
    plain = openset.score("centroid", torch.zeros(40, 2), feats, 1.0, cents)
    loo = openset.loo_centroid_scores(feats, labels, cents)
    assert bool((loo <= plain + 1e-6).all()) and bool((loo < plain - 1e-6).any())
    # image 0 judged against centroids made without it
    rest = torch.ones(40, dtype=torch.bool)
    rest[0] = False
    without = openset.centroids_of(feats[rest], labels[rest], 2)
    own = torch.nn.functional.normalize(feats[:1], dim=1) @ without.T
    expected = max(
        float(own[0, labels[0]]),
        float((torch.nn.functional.normalize(feats[:1], dim=1) @ cents.T)[0, 1 - labels[0]]),
    )
    assert float(loo[0]) == pytest.approx(expected, abs=1e-5)


def test_the_runs_final_evaluation_carries_the_calibration(trained, checkpoint):
    from resnet_gui.engine.events import EvalDone

    done = [e for e in trained[1] if isinstance(e, EvalDone)]
    stored = read_metadata(checkpoint)["trust"]
    cal = done[0].result.calibration if done else None
    assert cal and {k: cal[k] for k in ("temperature", "ece_before", "ece_after")} == {
        "temperature": stored["temperature"],
        "ece_before": stored["ece_before"],
        "ece_after": stored["ece_after"],
    }
    assert len(cal["reliability_after"]) == 15  # the Evaluation tab's reliability diagram


def test_open_set_data_that_does_not_fit_the_model_turns_rejection_off(checkpoint, tmp_path):
    from resnet_gui.engine.model.checkpoint import save_checkpoint

    weights, meta = load_checkpoint(checkpoint)
    meta.trust = dict(meta.trust, centroids=openset.encode_centroids(torch.zeros(2, 7)))  # wrong shape
    bad = save_checkpoint(tmp_path / "odd.safetensors", weights, meta)
    pred = Predictor(bad, device="cpu")
    assert not pred.trust.available and pred.trust.temperature == pytest.approx(meta.trust["temperature"])
    assert pred.predict_one(Image.new("RGB", (40, 40))).unknown is None
