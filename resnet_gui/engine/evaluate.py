"""Evaluation: accuracy, loss, confusion matrix, per-class figures and one record per image.

`evaluate()` is the one evaluation loop: a training run calls it on its validation loader every epoch,
`evaluate_model()` runs it on a model in memory and a list of samples (a run's final evaluation), and
`evaluate_checkpoint()` loads a model file and a folder first (the CLI's `eval`). The reported loss is
plain cross-entropy (no label smoothing), per image and averaged, everywhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from resnet_gui.engine.data.dataset import ImageDataset, collate_skipping_with_indices
from resnet_gui.engine.data.scan import Sample, scan_dataset
from resnet_gui.engine.data.transforms import build_eval_transform
from resnet_gui.engine.device import DevicePlan, device_name, device_plan, resolve_device
from resnet_gui.engine.errors import DatasetError
from resnet_gui.engine.model.checkpoint import load_model

log = logging.getLogger(__name__)

#: Keys of `EvalResult.summary()`: what a checkpoint's metadata and run.json keep (no per-image list).
SUMMARY_KEYS = ("split", "num_images", "accuracy", "loss", "classes", "confusion_matrix", "per_class")


@dataclass
class EvalResult:
    """`to_json()` is the CLI's `eval --json` object.

    `images` has one record per evaluated image, in dataset order:
    `{path, true, pred, prob (confidence in pred), true_prob, loss}`; `misclassified` is the subset with
    true != pred, most confidently wrong first (likely mislabels).
    """

    checkpoint: str
    data_dir: str
    split: str
    accuracy: float
    loss: float
    classes: list[str]
    confusion_matrix: list[list[int]]  # rows = true class, columns = predicted
    per_class: list[dict]
    misclassified: list[dict]
    num_images: int
    device: str
    device_name: str
    skipped: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    calibration: dict | None = None  # {temperature, ece_before, ece_after} (infer/trust.py); None: not stored
    tta: bool = False  # each image averaged with its mirror

    def to_json(self, include_images: bool = False) -> dict:
        data = asdict(self)
        if not include_images:
            del data["images"]
        return data

    def summary(self) -> dict:
        """The figures without the per-image records (small enough for checkpoint metadata)."""
        out = {k: getattr(self, k) for k in SUMMARY_KEYS}
        out["num_misclassified"] = len(self.misclassified)
        return out

    def to_table(self) -> str:
        w = max(8, *(len(c) for c in self.classes))
        lines = [
            f"{self.num_images} images ({self.split}) on {self.device_name}: "
            f"accuracy {100 * self.accuracy:.2f}%, loss {self.loss:.4f}",
            "",
            f"{'class':<{w}}  precision  recall      f1  support",
        ]
        for row in self.per_class:
            lines.append(
                f"{row['class']:<{w}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
                f"{row['f1']:6.3f}  {row['support']:7d}"
            )
        lines += ["", "confusion matrix (rows = true, columns = predicted):"]
        head = " " * (w + 2) + " ".join(f"{c[:6]:>6}" for c in self.classes)
        lines.append(head)
        for c, row in zip(self.classes, self.confusion_matrix, strict=True):
            lines.append(f"{c:<{w}}  " + " ".join(f"{n:6d}" for n in row))
        if self.misclassified:
            lines += ["", f"{len(self.misclassified)} misclassified, most confident first:"]
            for m in self.misclassified[:10]:
                lines.append(f"  {m['path']}: {m['true']} -> {m['pred']} ({100 * m['prob']:.1f}%)")
        for s in self.skipped:
            lines.append(f"skipped {s['path']}: {s['reason']}")
        if self.calibration:
            c = self.calibration
            lines.append(
                f"calibration: temperature {c['temperature']:.3f}, expected calibration error "
                f"{100 * c['ece_before']:.2f}% before, {100 * c['ece_after']:.2f}% after"
            )
        return "\n".join(lines)


def per_class_metrics(confusion: torch.Tensor, classes: list[str]) -> list[dict]:
    """Precision, recall, F1 and support per class from a confusion matrix (rows = true)."""
    rows = []
    for i, name in enumerate(classes):
        tp = confusion[i, i].item()
        support = confusion[i].sum().item()
        predicted = confusion[:, i].sum().item()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


@dataclass
class EvalPass:
    """What one pass of `evaluate` saw. `loss` and `accuracy` are None when no image could be read.

    `images` has one record per image, in loader order: `{path, true, pred, prob, true_prob, loss}`.
    """

    loss: float | None
    accuracy: float | None
    seen: int
    confusion: torch.Tensor  # [n, n] counts, rows = true class
    images: list[dict]
    skipped: list[tuple[str, str]]  # (path, reason) of the images that could not be read
    logits: torch.Tensor | None = None  # [seen, C] raw logits, and their labels (calibration figures)
    labels: torch.Tensor | None = None


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    classes: Sequence[str],
    device: torch.device,
    plan: DevicePlan,
    *,
    stop: threading.Event | None = None,
    temperature: float = 1.0,
    tta: bool = False,
) -> EvalPass | None:
    """The one evaluation loop: every epoch of a training run, its final evaluation and `resnet-gui eval`.

    `loader` yields `collate_skipping_with_indices` batches of an `ImageDataset` (or its cached variant);
    the model runs in eval mode (restored afterwards), with the plan's copies, layout and autocast.

    The reported loss is plain cross-entropy (no label smoothing), per image and averaged: label smoothing
    is only the training objective (`train.epoch.training_criterion`), so the validation loss on the
    training curve and on the Evaluation tab are the same number for the same model and images.
    Returns None when `stop` is set before the end (a partial evaluation would mislead).
    `temperature`: the checkpoint's calibration for the probabilities in the records (the loss stays the
    model's own); `tta`: each image's logits averaged with its mirror's.
    """
    samples = loader.dataset.samples
    n = len(classes)
    confusion = torch.zeros(n * n, dtype=torch.long)
    total_loss, seen = 0.0, 0
    images: list[dict] = []
    skipped: list[tuple[str, str]] = []
    all_logits: list[torch.Tensor] = []
    all_labels: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        for batch, labels, idx, bad in loader:
            skipped += bad
            if len(labels) > 0:
                with plan.autocast(device):
                    x = plan.to_device(batch, device)
                    logits = model(x)
                    if tta:
                        logits = (logits.float() + model(torch.flip(x, dims=[3])).float()) / 2
                logits = logits.float().cpu()
                all_logits.append(logits)
                all_labels.append(labels)
                losses = F.cross_entropy(logits, labels, reduction="none")
                probs = (logits / temperature).softmax(1)
                conf, pred = probs.max(1)
                true_prob = probs.gather(1, labels[:, None])[:, 0]
                confusion += torch.bincount(labels * n + pred, minlength=n * n)
                total_loss += losses.sum().item()
                seen += len(labels)
                for i, t, p, c, tp, lo in zip(
                    idx.tolist(),
                    labels.tolist(),
                    pred.tolist(),
                    conf.tolist(),
                    true_prob.tolist(),
                    losses.tolist(),
                    strict=True,
                ):
                    images.append(
                        {
                            "path": samples[i].path,
                            "true": classes[t],
                            "pred": classes[p],
                            "prob": c,
                            "true_prob": tp,
                            "loss": lo,
                        }
                    )
            if stop is not None and stop.is_set():
                return None
    finally:
        model.train(was_training)
    matrix = confusion.view(n, n)
    return EvalPass(
        loss=total_loss / seen if seen else None,
        accuracy=matrix.diag().sum().item() / seen if seen else None,
        seen=seen,
        confusion=matrix,
        images=images,
        skipped=skipped,
        logits=torch.cat(all_logits) if all_logits else None,
        labels=torch.cat(all_labels) if all_labels else None,
    )


def eval_loader(
    samples: Sequence[Sample],
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    plan: DevicePlan,
    *,
    batch_size: int = 64,
    workers: int = 0,
    mp_context: str | None = None,
) -> DataLoader:
    """A DataLoader over `samples` with the eval transform, in the form `evaluate` reads."""
    ds = ImageDataset(list(samples), build_eval_transform(img_size, list(mean), list(std)))
    extra = {"multiprocessing_context": mp_context} if workers > 0 and mp_context else {}
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_skipping_with_indices,
        pin_memory=plan.pin_memory,
        **extra,
    )


class ModelSpec(Protocol):
    """What evaluating a model needs to know about it: a CheckpointMeta, or a run's ModelCard."""

    classes: Sequence[str]
    img_size: int
    mean: Sequence[float]
    std: Sequence[float]


def evaluate_model(
    model: nn.Module,
    samples: Sequence[Sample],
    spec: ModelSpec,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    workers: int = 0,
    mp_context: str | None = None,
    amp: bool = False,
    stop: threading.Event | None = None,
    checkpoint: str = "",
    data_dir: str = "",
    split: str = "val",
    trust: object | None = None,
    tta: bool = False,
) -> EvalResult | None:
    """Evaluate `model` (already on `device`) on `samples` (labels index `spec.classes`; the eval transform
    from `spec.img_size/mean/std`): `evaluate` over an
    eval-transform loader, as a full `EvalResult`. `amp`: autocast as the device plan says (training's
    final evaluation matches its own precision); off for `resnet-gui eval`.

    Returns None when `stop` is set before the end; raises DatasetError when no image could be read.
    `trust`: the checkpoint's `infer.trust.Trust`: calibrated probabilities and the `calibration` figures.
    """
    dev = torch.device(device)
    plan = device_plan(dev, amp=amp)
    classes = list(spec.classes)
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
    temperature = getattr(trust, "temperature", 1.0) if trust is not None else 1.0
    done = evaluate(model, loader, classes, dev, plan, stop=stop, temperature=temperature, tta=tta)
    if done is None:
        return None
    if done.seen == 0:
        raise DatasetError(f"no readable images to evaluate{f' in {data_dir}' if data_dir else ''}")
    wrong = sorted((r for r in done.images if r["true"] != r["pred"]), key=lambda r: -r["prob"])
    return EvalResult(
        checkpoint=str(checkpoint),
        data_dir=str(data_dir),
        split=split,
        accuracy=done.accuracy,
        loss=done.loss,
        classes=list(classes),
        confusion_matrix=done.confusion.tolist(),
        per_class=per_class_metrics(done.confusion, list(classes)),
        misclassified=wrong,
        num_images=done.seen,
        device=str(dev),
        device_name=device_name(dev),
        skipped=[{"path": p, "reason": r} for p, r in done.skipped],
        images=done.images,
        calibration=_calibration(trust, done),
        tta=tta,
    )


def _calibration(trust: object | None, done: EvalPass) -> dict | None:
    """{temperature, ece_before, ece_after} on these images with the checkpoint's stored temperature."""
    if trust is None or not getattr(trust, "calibrated", False) or done.logits is None:
        return None
    from resnet_gui.engine.infer.calibrate import ece, reliability

    t = float(trust.temperature)  # type: ignore[attr-defined]
    before, after = done.logits.softmax(1), (done.logits / t).softmax(1)
    return {
        "temperature": t,
        "ece_before": ece(before, done.labels),
        "ece_after": ece(after, done.labels),
        # the reliability diagram's bins (Evaluation tab): {lo, hi, count, confidence, accuracy} each
        "reliability_before": reliability(before, done.labels),
        "reliability_after": reliability(after, done.labels),
    }


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_dir: str | Path,
    device: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    classes_file: str | Path | None = None,
    max_misclassified: int | None = None,
    tta: bool = False,
) -> EvalResult:
    """Evaluate on the folder's val/ (or test/) split if it has one, else on every image in it.

    `max_misclassified` caps the `misclassified` list (most confident kept); None keeps all of them.
    """
    dev = resolve_device(device)
    model, meta = load_model(checkpoint, device=dev, classes_file=classes_file)
    index = scan_dataset(data_dir, val_split=0.0)
    if index.split_source == "folders" and index.val:
        samples, split = index.val, "val"
    else:
        samples, split = index.train + index.val, "all"
    unknown = [c for c in index.classes if c not in meta.classes]
    if unknown and meta.source == "imagenet":  # 1,000 names: say what would work instead of listing them
        from resnet_gui.engine.model.imagenet import unmatched_classes_message

        raise DatasetError(unmatched_classes_message(str(data_dir), unknown, len(meta.classes)))
    if unknown:
        raise DatasetError(
            f"{data_dir} has classes the checkpoint does not know: {', '.join(unknown)} "
            f"(it knows {', '.join(meta.classes)})"
        )
    remap = {i: meta.classes.index(c) for i, c in enumerate(index.classes)}
    samples = [Sample(s.path, remap[s.label]) for s in samples]
    result = evaluate_model(
        model,
        samples,
        meta,
        device=dev,
        batch_size=batch_size,
        workers=workers if workers is not None else device_plan(dev, amp=False).eval_workers,
        checkpoint=str(checkpoint),
        data_dir=str(data_dir),
        split=split,
        trust=_trust_of(meta),
        tta=tta,
    )
    assert result is not None  # no stop flag: always complete
    if max_misclassified is not None:
        result.misclassified = result.misclassified[:max_misclassified]
    return result


def evaluate_run_split(
    checkpoint: str | Path,
    data_dir: str | Path | None = None,
    *,
    device: str = "auto",
    batch_size: int = 64,
    workers: int = 0,
    stop: threading.Event | None = None,
) -> EvalResult | None:
    """Evaluate a checkpoint on the validation split of the run that trained it.

    The split is rebuilt from the run's config in the checkpoint (data_dir, val_split, seed), so a run that
    was stopped before its end-of-run evaluation can still be evaluated on exactly its own val images.
    None when `stop` was set meanwhile.
    """
    dev = resolve_device(device)
    model, meta = load_model(checkpoint, device=dev)
    cfg = meta.config or {}
    data_dir = data_dir or cfg.get("data_dir")
    if not data_dir:
        raise DatasetError(f"{Path(checkpoint).name} does not say which folder it was trained on")
    index = scan_dataset(data_dir, val_split=float(cfg.get("val_split", 0.2)), seed=int(cfg.get("seed", 0)))
    if index.classes != list(meta.classes):
        raise DatasetError(
            f"{data_dir} has classes {', '.join(index.classes)}; the checkpoint knows {', '.join(meta.classes)}"
        )
    if not index.val:
        raise DatasetError(f"the run on {data_dir} had no validation images to evaluate on")
    return evaluate_model(
        model,
        index.val,
        meta,
        device=dev,
        batch_size=batch_size,
        workers=workers,
        stop=stop,
        checkpoint=str(checkpoint),
        data_dir=str(data_dir),
        split="val",
        trust=_trust_of(meta),
    )


def _trust_of(meta) -> object:
    """The checkpoint's calibration and open-set fit (engine/infer/trust.py)."""
    from resnet_gui.engine.infer.trust import Trust

    return Trust.from_meta(getattr(meta, "trust", None))
