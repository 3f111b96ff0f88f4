"""Predictions you can trust: calibration and open-set rejection fitted once, stored, used everywhere.

`fit_trust(model, samples, spec)` runs the best model over the validation split once (logits and
penultimate features), fits the temperature (infer/calibrate.py), measures the ECE before and after, and
prepares the open-set scores (infer/openset.py): their thresholds at 0..50% rejection of correctly
classified validation images and, for the centroid score, the class centroids. The result is a `Trust`,
stored as the checkpoint metadata's optional `trust` field (a dict); a checkpoint without it (seed-style
files, older runs) gets `Trust.unavailable()`: temperature 1, no rejection.

`Trust.answer(logits, feats, rate)` is the one place logits become what users see: calibrated
probabilities, the open-set score and whether the image is "unknown". The Predictor, the batch CSV
writer, Grad-CAM's caption and the video source all go through it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from resnet_gui.engine.infer import calibrate, openset

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SCORE", "TRUST_VERSION", "Answer", "Trust", "collect_outputs", "fit_trust"]

TRUST_VERSION = 1
#: The open-set score used by default: measured best here (docs/TRUST.md): energy and centroid beat msp on
#: held-out classes, the centroid score is far ahead on noise and photo-like images.
DEFAULT_SCORE = "centroid"


@dataclass
class Answer:
    """What the model says about a batch: calibrated probabilities, open-set scores, unknown flags."""

    probs: torch.Tensor  # [N, C]
    scores: torch.Tensor | None  # [N], None when rejection is unavailable
    unknown: list[bool] | None  # None when unavailable or switched off


@dataclass
class Trust:
    temperature: float = 1.0
    ece_before: float | None = None
    ece_after: float | None = None
    score: str | None = None  # None: no open-set rejection
    rate: float = openset.DEFAULT_RATE
    quantiles: dict[str, list[float]] = field(default_factory=dict)
    centroids: torch.Tensor | None = None
    num_val: int = 0
    # the reliability diagram of the fit (calibrate.reliability, before / after); not stored in the checkpoint
    bins: dict[str, list[dict]] = field(default_factory=dict, repr=False)

    @classmethod
    def unavailable(cls) -> Trust:
        return cls()

    @property
    def available(self) -> bool:
        return self.score is not None and bool(self.quantiles.get(self.score))

    @property
    def calibrated(self) -> bool:
        return self.ece_after is not None

    @property
    def needs_features(self) -> bool:
        return self.available and self.score == "centroid"

    def fits(self, num_classes: int, feature_dim: int) -> bool:
        """Whether the stored centroids (if the score needs them) match a model of this shape."""
        if not self.needs_features:
            return True
        c = self.centroids
        return c is not None and tuple(c.shape) == (num_classes, feature_dim)

    def threshold(self, rate: float | None = None) -> float | None:
        """The rejection threshold of the stored score at `rate` (None: the stored default rate)."""
        if not self.available:
            return None
        return openset.threshold_at(self.quantiles[self.score], self.rate if rate is None else rate)

    def answer(
        self, logits: torch.Tensor, feats: torch.Tensor | None = None, rate: float | None = None
    ) -> Answer:
        """Calibrated probabilities, the open-set score and the verdict (score < threshold) per row."""
        logits = logits.float()
        probs = (logits / self.temperature).softmax(1)
        if not self.available or (self.needs_features and feats is None):
            return Answer(probs, None, None)
        scores = openset.score(self.score, logits, feats, self.temperature, self.centroids)
        thr = self.threshold(rate)
        unknown = None if thr is None else [bool(s < thr) for s in scores.tolist()]
        return Answer(probs, scores, unknown)

    def to_meta(self) -> dict:
        """The checkpoint metadata's `trust` field (JSON)."""
        out = {
            "version": TRUST_VERSION,
            "temperature": self.temperature,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "score": self.score,
            "rate": self.rate,
            "threshold": self.threshold(),
            "quantiles": self.quantiles,
            "num_val": self.num_val,
        }
        if self.centroids is not None:
            out["centroids"] = openset.encode_centroids(self.centroids)
        return out

    @classmethod
    def from_meta(cls, data: Mapping | None) -> Trust:
        """From a checkpoint's `trust` field; unavailable when missing or not understood."""
        if not data or not isinstance(data, Mapping):
            return cls.unavailable()
        try:
            t = cls(
                temperature=float(data.get("temperature") or 1.0),
                ece_before=data.get("ece_before"),
                ece_after=data.get("ece_after"),
                score=data.get("score"),
                rate=float(data.get("rate", openset.DEFAULT_RATE)),
                quantiles={str(k): [float(v) for v in vs] for k, vs in (data.get("quantiles") or {}).items()},
                centroids=openset.decode_centroids(data["centroids"]) if data.get("centroids") else None,
                num_val=int(data.get("num_val") or 0),
            )
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("ignored the checkpoint's calibration data: %s", exc)
            return cls.unavailable()
        if t.temperature <= 0 or (t.score is not None and t.score not in openset.SCORES):
            return cls.unavailable()
        return t

    def with_score(self, kind: str) -> Trust:
        """The same fit judged by another stored score (measurements compare them)."""
        from dataclasses import replace

        return replace(self, score=kind)


@torch.inference_mode()
def collect_outputs(
    model: nn.Module,
    samples: Sequence,
    spec,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    workers: int = 0,
    mp_context: str | None = None,
    stop: threading.Event | None = None,
    tta: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(logits [N, C], features [N, D], labels [N]) of the readable `samples` with the eval transform;
    `tta`: averaged with the mirrored image. None when stopped."""
    from resnet_gui.engine.device import device_plan
    from resnet_gui.engine.evaluate import eval_loader

    dev = torch.device(device)
    plan = device_plan(dev, amp=False)
    loader = eval_loader(
        samples,
        spec.img_size,
        spec.mean,
        spec.std,
        plan,
        batch_size=batch_size,
        workers=workers,
        mp_context=mp_context,
    )
    was_training = model.training
    model.eval()
    outs, feats, labels = [], [], []
    try:
        for batch, y, _idx, _bad in loader:
            if len(y):
                x = plan.to_device(batch, dev)
                z, f = forward_features(model, x, tta=tta)
                outs.append(z.float().cpu())
                feats.append(f.float().cpu())
                labels.append(y)
            if stop is not None and stop.is_set():
                return None
    finally:
        model.train(was_training)
    if not outs:
        return torch.zeros(0, 0), torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(outs), torch.cat(feats), torch.cat(labels)


def forward_features(
    model: nn.Module, x: torch.Tensor, tta: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """`openset.forward_features`, or with `tta` the mean of the image's and its mirror's outputs."""
    if not tta:
        return openset.forward_features(model, x)
    z, f = openset.forward_features(model, torch.cat([x, torch.flip(x, dims=[3])]))
    n = len(x)
    return (z[:n] + z[n:]) / 2, (f[:n] + f[n:]) / 2


def fit_trust(
    model: nn.Module,
    samples: Sequence,
    spec,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    workers: int = 0,
    mp_context: str | None = None,
    stop: threading.Event | None = None,
    score: str = DEFAULT_SCORE,
) -> Trust | None:
    """Fit temperature and open-set thresholds on `samples` (the validation split) with `model` (the best
    one, on `device`). None when stopped or nothing could be read."""
    out = collect_outputs(
        model,
        samples,
        spec,
        device=device,
        batch_size=batch_size,
        workers=workers,
        mp_context=mp_context,
        stop=stop,
    )
    if out is None or len(out[2]) == 0:
        return None
    return trust_from_outputs(*out, num_classes=len(spec.classes), score=score)


def trust_from_outputs(
    logits: torch.Tensor,
    feats: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    score: str = DEFAULT_SCORE,
) -> Trust:
    """The fit itself, on validation outputs (see `fit_trust`)."""
    t = calibrate.fit_temperature(logits, labels)
    before = calibrate.ece(logits.softmax(1), labels)
    after = calibrate.ece((logits / t).softmax(1), labels)
    if after > before:  # a small split can lower the NLL and still bin worse: keep what measured better
        t, after = 1.0, before
    right = logits.argmax(1) == labels
    keep = right if bool(right.any()) else torch.ones_like(right)  # a model that gets nothing right
    centroids = openset.centroids_of(feats[keep], labels[keep], num_classes)
    quantiles = {
        kind: openset.quantile_table(
            openset.loo_centroid_scores(feats[keep], labels[keep], centroids)
            if kind == "centroid"  # judged as new images would be, not against means they are part of
            else openset.score(kind, logits[keep], feats[keep], t, centroids)
        )
        for kind in openset.SCORES
    }
    log.info("calibration: T=%.3f, ECE %.4f -> %.4f on %d val images", t, before, after, len(labels))
    bins = {
        "reliability_before": calibrate.reliability(logits.softmax(1), labels),
        "reliability_after": calibrate.reliability((logits / t).softmax(1), labels),
    }
    return Trust(
        bins=bins,
        temperature=t,
        ece_before=before,
        ece_after=after,
        score=score,
        quantiles=quantiles,
        centroids=centroids,
        num_val=len(labels),
    )


def trust_metadata(
    model: nn.Module,
    samples: Sequence,
    spec,
    *,
    device: torch.device | str = "cpu",
    workers: int = 0,
    stop: threading.Event | None = None,
    result: object | None = None,
) -> dict:
    """The end of a training run: `fit_trust` on its validation split with the best model, as the
    checkpoint's `trust` metadata ({} when it could not be fitted: the checkpoint then has none).
    `result`: the run's final EvalResult, given its `calibration` figures (the same split)."""
    from resnet_gui.engine.errors import EngineError

    try:
        trust = fit_trust(
            model,
            samples,
            spec,
            device=device,
            workers=workers,
            mp_context=getattr(getattr(spec, "config", None), "mp_context", None),
            stop=stop,
        )
    except (EngineError, RuntimeError, ValueError) as exc:  # the run succeeded: report, do not fail it
        log.warning("calibration skipped: %s", exc)
        return {}
    if trust is None:
        return {}
    if result is not None and trust.calibrated:
        result.calibration = {  # type: ignore[attr-defined]
            "temperature": trust.temperature,
            "ece_before": trust.ece_before,
            "ece_after": trust.ece_after,
            **trust.bins,
        }
    return trust.to_meta()
