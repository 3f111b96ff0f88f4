"""Open-set rejection ("none of these"): a score for how much an image looks like the training classes.

Every score here is "higher = more like the training data":
- `msp`: the maximum (temperature-scaled) softmax probability (Hendrycks & Gimpel, 2017);
- `energy`: T * logsumexp(logits / T), the negative free energy (Liu et al., 2020);
- `centroid`: the cosine similarity of the penultimate features (after global average pooling) to the
  nearest class centroid, the centroids being the mean normalised features of the correctly classified
  validation images of each class.
An image is rejected ("unknown") when its score falls below a threshold picked on the validation split:
the score's quantile at the chosen `rate` of correctly classified validation images, so that at most that
share of them would be rejected. The quantiles for rates 0..50% are stored, so a strictness setting can
move the threshold without the validation images.
"""

from __future__ import annotations

import base64
import math

import numpy as np
import torch
from torch import nn

__all__ = [
    "DEFAULT_RATE",
    "MAX_RATE",
    "SCORES",
    "centroids_of",
    "loo_centroid_scores",
    "decode_centroids",
    "encode_centroids",
    "forward_features",
    "quantile_table",
    "score",
    "threshold_at",
]

SCORES = ("msp", "energy", "centroid")
DEFAULT_RATE = 0.05  # share of correctly classified validation images called unknown, at most
MAX_RATE = 0.5
RATE_STEPS = 50  # quantiles stored at 0%, 1%, ..., 50%


def forward_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, penultimate features) of a torchvision ResNet: the same operations as `model(x)`, with the
    pooled features kept (no hooks, no state left on the model)."""
    m = model
    h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    h = m.layer4(m.layer3(m.layer2(m.layer1(h))))
    feats = torch.flatten(m.avgpool(h), 1)
    return m.fc(feats), feats


def _normalise(feats: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(feats.float(), dim=1)


def centroids_of(feats: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[num_classes, D] mean normalised features per class (normalised again); a class with no image
    gets the all-classes mean."""
    f = _normalise(feats)
    fallback = f.mean(0) if len(f) else torch.zeros(f.shape[1])
    rows = [f[labels == c].mean(0) if bool((labels == c).any()) else fallback for c in range(num_classes)]
    return _normalise(torch.stack(rows))


def loo_centroid_scores(feats: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The centroid score of each of the images the centroids were made from, with its own class's
    centroid made without it (leave one out): scores as a new image of that class would get, not the
    optimistic ones of an image judged against a mean it is part of."""
    f = _normalise(feats)
    sims = f @ centroids.float().T
    num = centroids.shape[0]
    sums = torch.zeros(num, f.shape[1]).index_add_(0, labels, f)
    counts = torch.bincount(labels, minlength=num)
    own = sums[labels] - f
    alone = counts[labels] <= 1  # nothing left to compare with: keep the plain score
    loo = (f * _normalise(own)).sum(1)
    sims[torch.arange(len(f)), labels] = torch.where(alone, sims[torch.arange(len(f)), labels], loo)
    return sims.max(1).values


def score(
    kind: str,
    logits: torch.Tensor,
    feats: torch.Tensor | None = None,
    temperature: float = 1.0,
    centroids: torch.Tensor | None = None,
) -> torch.Tensor:
    """[N] scores of kind `kind` (higher = more in-distribution)."""
    z = logits.float() / temperature
    if kind == "msp":
        return z.softmax(1).max(1).values
    if kind == "energy":
        return temperature * torch.logsumexp(z, 1)
    if kind == "centroid":
        if feats is None or centroids is None:
            raise ValueError("the centroid score needs features and centroids")
        return (_normalise(feats) @ centroids.float().T).max(1).values
    raise ValueError(f"unknown score {kind!r}; one of {', '.join(SCORES)}")


def quantile_table(scores: torch.Tensor) -> list[float]:
    """Thresholds for rates 0%, 1%, ..., 50% from the scores of n correctly classified validation images.

    Rejecting `score < table[i]` should reject at most i% of *new* images like them, not only of these:
    the k-th smallest of n scores (1-based) has on average k / (n + 1) of new scores below it, so k is
    floor(rate * (n + 1)). When that is 0 (a small split or rate 0) the threshold sits one gap below the
    smallest score, rejecting none of the validation images."""
    s = np.sort(scores.double().cpu().numpy())
    n = len(s)
    if n == 0:
        return []
    below_min = float(s[0] - (s[1] - s[0])) if n > 1 else float(s[0])
    out = []
    for i in range(RATE_STEPS + 1):
        k = math.floor(i / 100 * (n + 1) + 1e-9)
        out.append(below_min if k == 0 else float(s[min(k, n) - 1]))
    return out


def threshold_at(table: list[float], rate: float) -> float | None:
    """The threshold for `rate` (0..MAX_RATE) from a `quantile_table`, interpolated between whole
    percents; None (no rejection) for rate <= 0 or an empty table."""
    if not table or rate <= 0:
        return None
    pos = min(rate, MAX_RATE) * 100
    i = int(math.floor(pos))
    if i >= len(table) - 1:
        return table[-1]
    frac = pos - i
    if frac < 1e-9:
        return table[i]
    return table[i] + frac * (table[i + 1] - table[i])


def encode_centroids(c: torch.Tensor) -> dict:
    """Centroids compactly for JSON metadata: float16 bytes, base64 (512 x 4 classes: ~5 kB)."""
    arr = c.detach().cpu().numpy().astype("<f2")
    return {"shape": list(arr.shape), "f16": base64.b64encode(arr.tobytes()).decode("ascii")}


def decode_centroids(data: dict) -> torch.Tensor:
    raw = base64.b64decode(data["f16"])
    arr = np.frombuffer(raw, dtype="<f2").reshape(data["shape"]).astype(np.float32)
    return torch.from_numpy(arr.copy())
