"""Confident learning against its published definition (Northcutt et al. 2021; cleanlab 2.x), by hand."""

from __future__ import annotations

import numpy as np

from resnet_gui.engine.data.doctor.confident import (
    confident_joint,
    confident_thresholds,
    find_label_issues,
    precision_recall_at_k,
)

LABELS = np.array([0, 0, 0, 1, 1, 1])
PROBS = np.array(
    [
        [0.9, 0.1],
        [0.8, 0.2],
        [0.2, 0.8],  # labelled 0, confidently 1: an issue
        [0.1, 0.9],
        [0.3, 0.7],
        [0.6, 0.4],  # labelled 1, argmax 0, but 0.6 < t_0: not confident, so not an issue
    ]
)


def test_thresholds_are_the_mean_self_confidence_per_class():
    t = confident_thresholds(LABELS, PROBS)
    np.testing.assert_allclose(t, [(0.9 + 0.8 + 0.2) / 3, (0.9 + 0.7 + 0.4) / 3])


def test_confident_joint_counts_only_examples_above_a_threshold():
    # row = given label, column = the class it confidently belongs to; example 5 is above no threshold
    np.testing.assert_array_equal(confident_joint(LABELS, PROBS), [[2, 1], [0, 2]])


def test_off_diagonal_examples_are_the_issues_and_argmax_agreement_is_not():
    issues = find_label_issues(LABELS, PROBS)
    assert issues.indices.tolist() == [2]
    assert issues.suggested.tolist() == [1]
    np.testing.assert_allclose(issues.self_confidence, [0.2])


def test_several_classes_above_threshold_take_the_argmax_of_all():
    labels = np.array([0, 0, 1, 1, 2, 2, 0])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.9, 0.05, 0.05],
            [0.3, 0.4, 0.3],
            [0.3, 0.4, 0.3],
            [0.3, 0.3, 0.4],
            [0.3, 0.3, 0.4],
            [0.1, 0.5, 0.4],  # labelled 0: classes 1 and 2 both reach their thresholds
        ]
    )
    t = confident_thresholds(labels, probs)
    assert probs[6, 1] >= t[1] and probs[6, 2] >= t[2] and probs[6, 0] < t[0]
    issues = find_label_issues(labels, probs)
    assert 6 in issues.indices.tolist()
    assert issues.suggested[issues.indices.tolist().index(6)] == 1  # the larger of the two


def test_ranking_by_self_confidence_and_by_normalized_margin():
    labels = np.array([0] * 5 + [1] * 5 + [2] * 5)
    probs = np.tile([0.1, 0.1, 0.1], (15, 1))
    for i, c in enumerate(labels):
        probs[i, c] = 0.8
    probs[0] = [0.10, 0.88, 0.02]  # self-confidence 0.10, margin -0.78
    probs[5] = [0.01, 0.12, 0.87]  # self-confidence 0.12, margin -0.75
    probs[10] = [0.70, 0.25, 0.05]  # self-confidence 0.05, margin -0.65
    by_conf = find_label_issues(labels, probs, rank_by="self_confidence")
    assert by_conf.indices.tolist() == [10, 0, 5]  # lowest p(given) first
    by_margin = find_label_issues(labels, probs, rank_by="normalized_margin")
    assert by_margin.indices.tolist() == [0, 5, 10]  # most negative margin first
    assert by_conf.suggested.tolist() == [0, 1, 2]


def _reference(labels, probs):
    """The definition written as loops, straight from the paper / cleanlab's compute_confident_joint."""
    k = probs.shape[1]
    t = [np.mean([probs[i, j] for i in range(len(labels)) if labels[i] == j]) for j in range(k)]
    out = set()
    for i, y in enumerate(labels):
        above = [j for j in range(k) if probs[i, j] >= t[j] - 1e-6]
        if not above:
            continue
        guess = above[0] if len(above) == 1 else int(np.argmax(probs[i]))
        if guess != y and int(np.argmax(probs[i])) != y:
            out.add(i)
    return out


def test_matches_the_loop_definition_on_random_probabilities():
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 4, 60)
        labels[:4] = np.arange(4)
        probs = rng.dirichlet(np.ones(4) * 0.7, size=60)
        assert set(find_label_issues(labels, probs).indices.tolist()) == _reference(labels, probs)


def test_precision_recall_at_k():
    assert precision_recall_at_k([3, 1, 7, 9], {1, 7, 8}, 3) == (2 / 3, 2 / 3)
