"""Is a result worth anything? A plain judgement of an accuracy against what guessing would give.

Torch-free and Qt-free: the Train tab's result box, its Evaluation panel and the CLI can all say the
same sentence. Two cases are worth a remark: every prediction falls in one class (the model learned a
constant), or the accuracy is not clearly above chance (the larger of 1/classes and the share of the
most common class, plus two standard errors of a guess on that many images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: What usually makes a run end at chance, in the order worth trying.
LIKELY_CAUSES = (
    "too few images per class",
    "too few epochs",
    "a learning rate too high or too low",
)


@dataclass(frozen=True)
class Verdict:
    """`kind` is "single-class" or "chance"; `text` is one sentence a user can act on."""

    kind: str
    text: str
    accuracy: float
    chance: float


def chance_level(num_classes: int, class_counts: list[int] | None = None) -> float:
    """The accuracy of the best constant guess: 1/classes, or the largest class's share when known."""
    base = 1.0 / max(1, num_classes)
    if class_counts:
        total = sum(class_counts)
        if total > 0:
            base = max(base, max(class_counts) / total)
    return base


def judge(
    num_classes: int,
    accuracy: float | None = None,
    confusion: list[list[int]] | None = None,
    num_images: int | None = None,
) -> Verdict | None:
    """A Verdict when the result is single-class or at chance; None when it looks like learning (or
    there is nothing to judge: no accuracy, fewer than two classes).

    `confusion` (rows = true class) gives the class counts, the accuracy and whether one column holds
    every prediction; without it, `accuracy` and `num_images` (the validation images) are judged
    against 1/classes.
    """
    if num_classes < 2:
        return None
    counts: list[int] | None = None
    single = None
    if confusion:
        counts = [sum(row) for row in confusion]
        total = sum(counts)
        if total == 0:
            return None
        num_images = total
        accuracy = sum(confusion[k][k] for k in range(min(len(confusion), num_classes))) / total
        columns = [sum(row[q] for row in confusion) for q in range(len(confusion[0]))]
        used = [q for q, n in enumerate(columns) if n]
        if len(used) == 1:
            single = used[0]
    if accuracy is None:
        return None
    chance = chance_level(num_classes, counts)
    causes = ", ".join(LIKELY_CAUSES)
    if single is not None:
        return Verdict(
            "single-class",
            f"Every image is predicted as the same class: the model has not learned to tell the classes "
            f"apart. Likely causes: {causes}.",
            accuracy,
            chance,
        )
    margin = 2 * math.sqrt(chance * (1 - chance) / num_images) if num_images else 0.05
    if accuracy <= chance + max(margin, 0.02):
        return Verdict(
            "chance",
            f"{100 * accuracy:.1f}% is about what guessing gives here ({100 * chance:.0f}% for "
            f"{num_classes} classes): the model has not learned much yet. Likely causes: {causes}.",
            accuracy,
            chance,
        )
    return None
