"""Confident learning (Northcutt, Jiang & Chuang, JAIR 2021) as cleanlab 2.x computes it, in numpy.

Why not cleanlab itself: it pulls in scikit-learn and pandas (~100 MB) for the ~40 lines below, and the
app needs only `find_label_issues(filter_by="confident_learning")` and the two rankings. The lines follow
cleanlab's `count.compute_confident_joint`, `filter.find_label_issues` and `rank.order_label_issues`;
`tests/engine/test_doctor_confident.py` checks them against the published definition on hand-made
probabilities.

- per-class threshold t_j = mean of p(j | x) over the examples labelled j (the class's self-confidence);
- an example "confidently belongs" to the classes whose probability reaches their threshold; with one such
  class it is that class, with several the argmax of all probabilities (as cleanlab does);
- the confident joint C[given][guess] counts those examples; the off-diagonal ones are the label issues,
  except where the model's own argmax agrees with the given label (cleanlab drops those too);
- issues are ranked by self-confidence p(given | x), lowest first (cleanlab's default), or by the
  normalised margin p(given | x) - max_{k != given} p(k | x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-6  # cleanlab compares with `pred_probs >= thresholds - 1e-6`


@dataclass
class LabelIssues:
    """Examples whose given label is suspect, the most likely wrong first."""

    indices: np.ndarray  # into the examples, ranked
    suggested: np.ndarray  # the class each most likely is (the confident joint's column)
    self_confidence: np.ndarray  # p(given | x) of each, ranked order
    confident_joint: np.ndarray  # [given, guess], the diagonal clipped to at least 1 as cleanlab does
    thresholds: np.ndarray


def confident_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """t_j = mean p(j | x) over the examples labelled j (a class with no examples: threshold 1)."""
    k = pred_probs.shape[1]
    out = np.ones(k)
    for j in range(k):
        mask = labels == j
        if mask.any():
            out[j] = pred_probs[mask, j].mean()
    return out


def confident_guess(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the class each example confidently belongs to, whether it has one, thresholds)."""
    thresholds = confident_thresholds(labels, pred_probs)
    above = pred_probs >= thresholds - _EPS
    n_above = above.sum(axis=1)
    guess = np.where(n_above > 1, pred_probs.argmax(axis=1), above.argmax(axis=1))
    return guess, n_above > 0, thresholds


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """C[given][guess] over the examples with a confident guess; diagonal clipped to >= 1 (cleanlab)."""
    k = pred_probs.shape[1]
    guess, has, _ = confident_guess(labels, pred_probs)
    cj = np.zeros((k, k), dtype=np.int64)
    np.add.at(cj, (labels[has], guess[has]), 1)
    np.fill_diagonal(cj, np.maximum(np.diag(cj), 1))
    return cj


def self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    return pred_probs[np.arange(len(labels)), labels]


def normalized_margin(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """p(given | x) - max over the other classes (cleanlab's `get_normalized_margin_for_each_label`)."""
    own = self_confidence(labels, pred_probs)
    others = pred_probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return own - others.max(axis=1)


def find_label_issues(labels, pred_probs, rank_by: str = "self_confidence") -> LabelIssues:
    """The off-diagonal examples of the confident joint, ranked (`self_confidence` | `normalized_margin`).

    `pred_probs` must be out-of-sample (each row from a model that did not train on that example).
    """
    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2 or len(labels) != len(pred_probs):
        raise ValueError("pred_probs must be (n_examples, n_classes) with one label per example")
    guess, has, thresholds = confident_guess(labels, pred_probs)
    issue = has & (guess != labels) & (pred_probs.argmax(axis=1) != labels)
    idx = np.nonzero(issue)[0]
    if rank_by == "self_confidence":
        key = self_confidence(labels, pred_probs)[idx]
    elif rank_by == "normalized_margin":
        key = normalized_margin(labels, pred_probs)[idx]
    else:
        raise ValueError(f"rank_by must be self_confidence or normalized_margin, not {rank_by!r}")
    order = idx[np.argsort(key, kind="stable")]
    return LabelIssues(
        indices=order,
        suggested=guess[order],
        self_confidence=self_confidence(labels, pred_probs)[order],
        confident_joint=confident_joint(labels, pred_probs),
        thresholds=thresholds,
    )


def precision_recall_at_k(ranked: list[int] | np.ndarray, truth: set[int], k: int) -> tuple[float, float]:
    """Of the first k ranked, the share that are in `truth` and the share of `truth` found."""
    top = set(list(ranked)[:k])
    hit = len(top & truth)
    return (hit / k if k else 0.0), (hit / len(truth) if truth else 0.0)
