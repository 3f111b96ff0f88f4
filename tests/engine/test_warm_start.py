"""Warm start: loading a model runs the whole prediction path once (decoders, threads, transform, forward,
calibration), so the first real image pays for nothing the rest do not."""

from __future__ import annotations

from resnet_gui.engine.infer import predict as predict_mod
from resnet_gui.engine.infer.predict import Predictor


def test_warm_up_goes_through_decode_and_the_full_prediction(checkpoint, monkeypatch):
    calls = {"decode": [], "predict": 0, "outputs": 0}
    real_decode, real_predict = predict_mod.load_image_reduced, Predictor._predict
    real_outputs = Predictor.outputs

    def decode(source, side):
        calls["decode"].append(bytes(source[:4]) if isinstance(source, bytes) else source)
        return real_decode(source, side)

    def predict(self, source, topk):
        calls["predict"] += 1
        return real_predict(self, source, topk)

    def outputs(self, x, tta=None):
        calls["outputs"] += 1
        return real_outputs(self, x, tta)

    monkeypatch.setattr(predict_mod, "load_image_reduced", decode)
    monkeypatch.setattr(Predictor, "_predict", predict)
    monkeypatch.setattr(Predictor, "outputs", outputs)
    p = Predictor(checkpoint, device="cpu")
    assert calls["decode"] == [b"\x89PNG", b"\xff\xd8\xff\xe0"]  # both decoders used once
    assert calls["predict"] == 2 and calls["outputs"] == 2  # the real path, not a bare model(zeros)
    assert Predictor(checkpoint, device="cpu", warmup=False) and calls["predict"] == 2
    p.warm_up()  # e.g. on the thread that will classify
    assert calls["predict"] == 3
