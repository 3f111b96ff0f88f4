"""Calibrated confidence: one temperature fitted on the validation split, and the calibration error.

Temperature scaling (Guo et al., 2017): the logits are divided by one scalar T > 0 chosen to minimise the
negative log-likelihood of the validation labels. It never changes which class wins, only how sure the
model says it is. The expected calibration error (ECE) is measured over 15 equal-width confidence bins.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["ECE_BINS", "T_RANGE", "ece", "fit_temperature", "nll", "reliability"]

ECE_BINS = 15
T_RANGE = (0.05, 20.0)  # a temperature outside this says the fit had nothing to go on


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / T)."""
    return F.cross_entropy(logits.double() / temperature, labels).item()


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T): a golden-section search over log T (the NLL is
    smooth and unimodal in log T for practical logits), deterministic and independent of torch's
    optimiser state. 1.0 when there is nothing to fit on."""
    if logits.numel() == 0 or len(labels) == 0:
        return 1.0
    z, y = logits.detach().double().cpu(), labels.detach().cpu()
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    g = (math.sqrt(5) - 1) / 2

    def f(log_t: float) -> float:
        return F.cross_entropy(z / math.exp(log_t), y).item()

    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):  # (0.618^60) * 6 ~ 1e-12 in log T
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    t = math.exp((a + b) / 2)
    if f(lo) <= f(math.log(t)):
        # The NLL is no higher at the range's low end (it falls, or underflows to 0, all the way): the split
        # separates perfectly (every image right with a margin), so it cannot say how sure the model should
        # be, and sharpening would show 100% for anything (seen on the demo: T = 0.05). Leave it as it is.
        return 1.0
    return t if f(math.log(t)) <= f(0.0) else 1.0  # never worse than leaving the model as it is


def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: `{lo, hi, count, confidence, accuracy}` (means; None for an empty bin), the
    data of a reliability diagram."""
    conf, pred = probs.max(1)
    right = (pred == labels).double()
    rows = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        inside = (conf > lo) & (conf <= hi) if i else (conf >= lo) & (conf <= hi)
        n = int(inside.sum())
        rows.append(
            {
                "lo": lo,
                "hi": hi,
                "count": n,
                "confidence": conf[inside].double().mean().item() if n else None,
                "accuracy": right[inside].mean().item() if n else None,
            }
        )
    return rows


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over bins of |accuracy - confidence| weighted by the bin's share."""
    n = len(labels)
    if n == 0:
        return 0.0
    return sum(
        r["count"] / n * abs(r["accuracy"] - r["confidence"])
        for r in reliability(probs, labels, bins)
        if r["count"]
    )
