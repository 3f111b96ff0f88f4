"""Evaluation of a checkpoint on a labelled folder: accuracy, loss, confusion matrix, per-class figures."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from resnet_gui.engine.checkpoint import load_model
from resnet_gui.engine.data import (
    ImageDataset,
    Sample,
    build_eval_transform,
    collate_skipping_with_indices,
    scan_dataset,
)
from resnet_gui.engine.device import device_name, resolve_device
from resnet_gui.engine.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """`to_json()` is the CLI's `eval --json` object."""

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

    def to_json(self) -> dict:
        return asdict(self)

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
            lines += ["", f"{len(self.misclassified)} misclassified, e.g.:"]
            for m in self.misclassified[:10]:
                lines.append(f"  {m['path']}: {m['true']} -> {m['pred']} ({100 * m['prob']:.1f}%)")
        for s in self.skipped:
            lines.append(f"skipped {s['path']}: {s['reason']}")
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


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_dir: str | Path,
    device: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    classes_file: str | Path | None = None,
    max_misclassified: int = 200,
) -> EvalResult:
    """Evaluate on the folder's val/ (or test/) split if it has one, else on every image in it."""
    dev = resolve_device(device)
    model, meta = load_model(checkpoint, device=dev, classes_file=classes_file)
    index = scan_dataset(data_dir, val_split=0.0)
    if index.split_source == "folders" and index.val:
        samples, split = index.val, "val"
    else:
        samples, split = index.train + index.val, "all"
    unknown = [c for c in index.classes if c not in meta.classes]
    if unknown:
        raise DatasetError(
            f"{data_dir} has classes the checkpoint does not know: {', '.join(unknown)} "
            f"(it knows {', '.join(meta.classes)})"
        )
    remap = {i: meta.classes.index(c) for i, c in enumerate(index.classes)}
    samples = [Sample(s.path, remap[s.label]) for s in samples]
    ds = ImageDataset(samples, build_eval_transform(meta.img_size, meta.mean, meta.std))
    nw = workers if workers is not None else (2 if dev.type == "cuda" else 0)
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        num_workers=nw,
        collate_fn=collate_skipping_with_indices,
        pin_memory=dev.type == "cuda",
    )
    n = len(meta.classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    criterion = nn.CrossEntropyLoss(reduction="sum")
    total_loss, seen = 0.0, 0
    misclassified: list[dict] = []
    skipped: list[dict] = []
    model.eval()
    with torch.inference_mode():
        for images, labels, idx, bad in loader:
            skipped += [{"path": p, "reason": r} for p, r in bad]
            if len(labels) == 0:
                continue
            logits = model(images.to(dev)).float().cpu()
            total_loss += criterion(logits, labels).item()
            probs = logits.softmax(1)
            conf, pred = probs.max(1)
            for t, p_, c, i in zip(labels.tolist(), pred.tolist(), conf.tolist(), idx.tolist(), strict=True):
                confusion[t, p_] += 1
                if t != p_ and len(misclassified) < max_misclassified:
                    misclassified.append(
                        {
                            "path": samples[i].path,
                            "true": meta.classes[t],
                            "pred": meta.classes[p_],
                            "prob": c,
                        }
                    )
            seen += len(labels)
    if seen == 0:
        raise DatasetError(f"no readable images in {data_dir}")
    return EvalResult(
        checkpoint=str(checkpoint),
        data_dir=str(data_dir),
        split=split,
        accuracy=confusion.diag().sum().item() / seen,
        loss=total_loss / seen,
        classes=list(meta.classes),
        confusion_matrix=confusion.tolist(),
        per_class=per_class_metrics(confusion, meta.classes),
        misclassified=misclassified,
        num_images=seen,
        device=str(dev),
        device_name=device_name(dev),
        skipped=skipped,
    )
