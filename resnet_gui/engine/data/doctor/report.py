"""`check_dataset`: everything the doctor finds in a dataset folder, in one report (`resnet-gui doctor`).

Order of the findings, most harmful first: train/val leakage (the validation accuracy is not honest),
unreadable files, suspected label errors, duplicates, class imbalance, odd images. Long work reports
`DoctorProgress` events through `on_event` and honours `stop` between images and between folds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_gui.engine.config import DEFAULTS
from resnet_gui.engine.data.doctor import hashing
from resnet_gui.engine.data.doctor.checks import ImageFacts, file_findings, imbalance, inspect_image
from resnet_gui.engine.data.doctor.confident import find_label_issues
from resnet_gui.engine.data.doctor.crossval import FOLDS, out_of_sample_probs
from resnet_gui.engine.data.doctor.journal import Journal
from resnet_gui.engine.data.scan import scan_dataset

log = logging.getLogger(__name__)

EMBED_NEAR_COSINE = 0.985  # with a checkpoint: penultimate-layer embeddings this close are near-duplicates
PROGRESS_PER_S = 4.0


@dataclass(frozen=True)
class DoctorProgress:
    """stage: "reading" (images) | "embedding" (checkpoint) | "cross-validating" (folds); done of total."""

    stage: str
    done: int
    total: int


@dataclass
class DoctorReport:
    root: str
    classes: list[str]
    num_files: int
    usable: int
    split_source: str
    duplicates: list[list[str]]  # exact copies (same bytes), each group sorted
    near_duplicates: list[list[str]]  # perceptual hash (and embedding) neighbours
    leakage: list[dict]  # {train, val, kind}: the same or near-same image on both sides of the split
    imbalance: dict
    unreadable: list[dict]  # {path, reason, truncated}
    image_issues: dict[str, list[dict]]  # tiny, huge, extreme_aspect, mixed_mode
    label_issues: list[dict]  # {path, given, suggested, score, split}, most likely wrong first
    method: str  # "features (k-fold logistic regression)" | "checkpoint embeddings (k-fold ...)"
    reviewed_hidden: int = 0  # suspects a person already kept or relabelled, left out
    wall_s: float = 0.0
    stopped: bool = False
    problems: list[str] = field(default_factory=list)  # the scanner's

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "classes": self.classes,
            "num_files": self.num_files,
            "usable": self.usable,
            "leakage": self.leakage,
            "duplicates": self.duplicates,
            "near_duplicates": self.near_duplicates,
            "imbalance": self.imbalance,
            "unreadable": self.unreadable,
            "image_issues": self.image_issues,
            "label_issues": self.label_issues,
            "method": self.method,
            "reviewed_hidden": self.reviewed_hidden,
            "wall_s": round(self.wall_s, 3),
        }

    def summary_lines(self) -> list[str]:
        """One line per kind of finding, with what to do, most harmful first."""
        out = []
        if self.leakage:
            out.append(
                f"LEAKAGE: {len(self.leakage)} image(s) in val also (or nearly) in train: the validation "
                "accuracy is too optimistic; remove one copy of each"
            )
        if self.unreadable:
            out.append(
                f"{len(self.unreadable)} unreadable file(s): training skips them; remove or replace them"
            )
        if self.label_issues:
            out.append(
                f"{len(self.label_issues)} suspected label error(s): look at each, then move it to the "
                "suggested class, keep it, or remove it"
            )
        if self.duplicates:
            n = sum(len(g) - 1 for g in self.duplicates)
            out.append(
                f"{len(self.duplicates)} group(s) of exact duplicates ({n} extra copies): remove the copies"
            )
        if self.near_duplicates:
            out.append(
                f"{len(self.near_duplicates)} group(s) of near-duplicates: check whether they are the same photo"
            )
        if self.imbalance.get("suggest_balance"):
            out.append("imbalance: " + self.imbalance["advice"])
        for key, words in (
            ("tiny", "tiny (short side < 32 px)"),
            ("huge", "huge (> 40 megapixels)"),
            ("extreme_aspect", "with an extreme aspect ratio (4:1 or more)"),
            ("mixed_mode", "in a colour mode unlike the rest"),
        ):
            if self.image_issues.get(key):
                out.append(f"{len(self.image_issues[key])} image(s) {words}")
        return out or ["no problems found"]


def check_dataset(
    root: str,
    checkpoint: str | None = None,
    *,
    val_split: float = DEFAULTS.val_split,
    seed: int = 0,
    folds: int = FOLDS,
    device: str = "cpu",
    on_event: Callable[[object], None] | None = None,
    stop: threading.Event | None = None,
) -> DoctorReport:
    """Check the dataset at `root` (the split as `scan_dataset(root, val_split, seed)` makes it).

    `checkpoint`: its penultimate-layer embeddings feed the cross-validated head and the near-duplicate
    search, instead of the built-in descriptors. A set `stop` returns what was found so far, `stopped`.
    """
    t0 = time.perf_counter()
    emit = _Throttled(on_event)
    index = scan_dataset(root, val_split=val_split, seed=seed)
    samples = [(s, "train") for s in index.train] + [(s, "val") for s in index.val]
    facts: list[ImageFacts] = []
    stopped = False
    for i, (s, split) in enumerate(samples):
        if stop is not None and stop.is_set():
            stopped = True
            break
        facts.append(inspect_image(s.path, s.label, split, with_features=checkpoint is None))
        emit(DoctorProgress("reading", i + 1, len(samples)))
    good = [f for f in facts if f.usable]

    embeddings = None
    if checkpoint is not None and good and not stopped:
        from resnet_gui.engine.data.doctor.embed import checkpoint_embeddings

        embeddings = checkpoint_embeddings(checkpoint, [f.path for f in good], device, emit, stop)
        stopped = embeddings is None
    near = hashing.near_pairs([f.dhash for f in good], [f.phash for f in good])
    near = [
        (a, b) for a, b in near if hashing.pixel_diff(good[a].thumb, good[b].thumb) <= hashing.NEAR_PIXEL_DIFF
    ]
    if embeddings is not None:
        near = sorted(set(near) | set(hashing.cosine_pairs(embeddings, EMBED_NEAR_COSINE)))

    exact = hashing.exact_groups([f.digest for f in facts])
    exact_keys = {frozenset(g) for g in exact}
    good_pos = {id(f): i for i, f in enumerate(facts)}
    near_all = [(good_pos[id(good[a])], good_pos[id(good[b])]) for a, b in near]
    near_all = [(a, b) for a, b in near_all if facts[a].digest != facts[b].digest]
    near_groups = [g for g in hashing.union_groups(len(facts), near_all) if frozenset(g) not in exact_keys]

    label_issues, hidden = [], 0
    if not stopped and len(good) >= 4:
        x = embeddings if embeddings is not None else np.stack([f.features for f in good])
        labels = np.array([f.label for f in good])

        def on_fold(done: int, total: int) -> None:
            emit(DoctorProgress("cross-validating", done, total), force=True)

        probs = out_of_sample_probs(
            x, labels, len(index.classes), k=folds, seed=seed, on_fold=on_fold, stop=stop
        )
        if probs is None:
            stopped = True
        else:
            label_issues, hidden = _label_issues(root, index.classes, good, labels, probs)

    report = DoctorReport(
        root=index.root,
        classes=list(index.classes),
        num_files=len(samples),
        usable=len(good),
        split_source=index.split_source,
        duplicates=[sorted(facts[i].path for i in g) for g in exact],
        near_duplicates=[sorted(facts[i].path for i in g) for g in near_groups],
        leakage=_leakage(facts, exact, near_all),
        imbalance=imbalance(index.classes, facts),
        unreadable=file_findings(facts)["unreadable"],
        image_issues={k: v for k, v in file_findings(facts).items() if k != "unreadable"},
        label_issues=label_issues,
        method=(
            "checkpoint embeddings + k-fold logistic regression"
            if checkpoint
            else "image descriptors + k-fold logistic regression"
        ),
        reviewed_hidden=hidden,
        wall_s=time.perf_counter() - t0,
        stopped=stopped,
        problems=list(index.problems),
    )
    log.info("doctor %s: %s", root, "; ".join(report.summary_lines()))
    return report


def _label_issues(root, classes, good, labels, probs) -> tuple[list[dict], int]:
    issues = find_label_issues(labels, probs)
    reviewed = Journal(root).reviewed()
    out, hidden = [], 0
    for i, guess, conf in zip(issues.indices, issues.suggested, issues.self_confidence, strict=True):
        f = good[int(i)]
        if f.path in reviewed:
            hidden += 1
            continue
        out.append(
            {
                "path": f.path,
                "given": classes[f.label],
                "suggested": classes[int(guess)],
                "score": round(1.0 - float(conf), 4),  # 1 - p(given | x): higher = more likely wrong
                "suggested_prob": round(float(probs[int(i), int(guess)]), 4),
                "split": f.split,
            }
        )
    return out, hidden


def _leakage(facts: list[ImageFacts], exact: list[list[int]], near: list[tuple[int, int]]) -> list[dict]:
    """Each (train, val) pair of the same (exact) or near-same (near) image."""
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    pairs = [(a, b, "exact") for g in exact for a in g for b in g if a < b] + [
        (a, b, "near") for a, b in near
    ]
    for a, b, kind in pairs:
        fa, fb = facts[a], facts[b]
        if {fa.split, fb.split} != {"train", "val"}:
            continue
        tr, va = (fa, fb) if fa.split == "train" else (fb, fa)
        if (tr.path, va.path) not in seen:
            seen.add((tr.path, va.path))
            out.append({"train": tr.path, "val": va.path, "kind": kind})
    return sorted(out, key=lambda d: (d["kind"] != "exact", d["val"], d["train"]))


class _Throttled:
    """Passes progress on at most PROGRESS_PER_S times a second (and the last step of each stage)."""

    def __init__(
        self, on_event: Callable[[object], None] | None, clock: Callable[[], float] = time.monotonic
    ):
        self.on_event, self.clock, self.last = on_event, clock, -1e9

    def __call__(self, p: DoctorProgress, force: bool = False) -> None:
        if self.on_event is None:
            return
        now = self.clock()
        if force or p.done == p.total or now - self.last >= 1.0 / PROGRESS_PER_S:
            self.last = now
            self.on_event(p)
