"""Out-of-sample predicted probabilities by k-fold cross-validation of a quick model (torch, CPU).

Each fold fits a multinomial logistic regression (standardised features, L2, full-batch L-BFGS: a second
or so for a few thousand images) on the other folds and predicts its own, so every row of the result comes
from a model that never saw that image, which confident learning needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

FOLDS = 5
L2 = 1e-3  # weight decay of the logistic head (standardised features); 1e-2..1e-1 ranked worse on all three sets
_STEPS = 20  # L-BFGS iterations (as good as 60 on the demo and digit sets, a third of the time)


def stratified_folds(labels: np.ndarray, k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Fold number of each example: each class dealt round the folds in a seeded order."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = np.nonzero(labels == c)[0]
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, num_classes: int) -> np.ndarray:
    """Probabilities for `x_test` from a logistic regression fitted on the training rows."""
    import torch

    from resnet_gui.engine.device import restored_threads

    mean = x_train.mean(0)
    std = x_train.std(0) + 1e-6
    with restored_threads(), torch.no_grad():
        torch.set_num_threads(
            1
        )  # a few hundred columns: more threads only wait for each other (5x slower on 2 busy cores)
        xt = torch.from_numpy(((x_train - mean) / std).astype(np.float32))
        yt = torch.from_numpy(y_train.astype(np.int64))
        xs = torch.from_numpy(((x_test - mean) / std).astype(np.float32))
        w = torch.zeros(xt.shape[1], num_classes, requires_grad=True)
        b = torch.zeros(num_classes, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=_STEPS, history_size=20, line_search_fn="strong_wolfe"
        )

        def closure():
            opt.zero_grad()
            with torch.enable_grad():
                loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + L2 * (w * w).sum()
                loss.backward()
            return loss

        opt.step(closure)
        return torch.softmax(xs @ w + b, dim=1).numpy().astype(np.float64)


def out_of_sample_probs(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    k: int = FOLDS,
    seed: int = 0,
    on_fold: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> np.ndarray | None:
    """(n, num_classes) probabilities, each row from the fold that held the example out; None if stopped."""
    labels = np.asarray(labels, dtype=np.int64)
    k = max(2, min(k, int(np.bincount(labels).max()) if len(labels) else 2))
    fold = stratified_folds(labels, k, seed)
    probs = np.full((len(labels), num_classes), 1.0 / num_classes)
    for f in range(k):
        if stop is not None and stop.is_set():
            return None
        test = fold == f
        train = ~test
        if test.any() and len(np.unique(labels[train])) >= 2:
            probs[test] = fit_predict(features[train], labels[train], features[test], num_classes)
        if on_fold is not None:
            on_fold(f + 1, k)
    return probs
