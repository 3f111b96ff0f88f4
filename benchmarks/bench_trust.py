"""Open-set rejection, calibration and TTA, measured on generated data (docs/TRUST.md quotes it).

Two settings, each trained with the engine's own `train()` (its end-of-run fit stores temperature and
thresholds in the checkpoint):
- shapes: the demo generator's circle / square / triangle; `star` held out;
- photos: benchmarks/photos.py's photo-like JPEGs, classes 0-3; classes 4-5 held out.
Out-of-distribution sets: the held-out classes, uniform noise, and the other setting's images (photos
for the shapes model, shapes for the photos model). In-distribution test images are a fresh seed, not the
validation images the thresholds were chosen on. Prints one JSON object.

    nice -n 10 python benchmarks/bench_trust.py [--epochs 6] [--per-class 60] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photos import make_photo_folder  # noqa: E402

from resnet_gui.engine.config import TrainConfig  # noqa: E402
from resnet_gui.engine.data.demo import make_demo_dataset  # noqa: E402
from resnet_gui.engine.data.scan import Sample, scan_dataset  # noqa: E402
from resnet_gui.engine.device import current_load  # noqa: E402
from resnet_gui.engine.infer import calibrate, openset  # noqa: E402
from resnet_gui.engine.infer.predict import Predictor  # noqa: E402
from resnet_gui.engine.infer.trust import Trust, collect_outputs  # noqa: E402
from resnet_gui.engine.model.checkpoint import load_model  # noqa: E402
from resnet_gui.engine.train.loop import train  # noqa: E402


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of an in-distribution image > score of an OOD one), ties half."""
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    for v in np.unique(allv):  # average ranks of ties
        m = allv == v
        ranks[m] = ranks[m].mean()
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def noise_folder(out: Path, n: int, size: int, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    d = out / "noise"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(d / f"n{i:03d}.png")
    return out


def samples_of(folder: Path, classes: list[str] | None = None) -> list[Sample]:
    idx = scan_dataset(folder, val_split=0.0) if any(p.is_dir() for p in folder.iterdir()) else None
    if idx is None:
        return []
    keep = [i for i, c in enumerate(idx.classes) if classes is None or c in classes]
    return [s for s in idx.train + idx.val if s.label in keep]


def shapes_setting(root: Path, per_class: int) -> dict:
    src = make_demo_dataset(root / "shapes_all", per_class=per_class, size=48, seed=0)
    test = make_demo_dataset(root / "shapes_test", per_class=max(40, per_class // 2), size=48, seed=1)
    train_dir = root / "shapes_train"
    for c in ("circle", "square", "triangle"):
        shutil.copytree(src / c, train_dir / c)
    return {
        "name": "shapes",
        "train": train_dir,
        "img_size": 48,
        "test_in_dir": test,
        "known": ["circle", "square", "triangle"],
        "ood": {"held-out class (star)": [str(p) for p in sorted((test / "star").glob("*.png"))]},
    }


def photos_setting(root: Path, per_class: int) -> dict:
    make_photo_folder(root / "photos_all", classes=6, per_class=per_class, size=(160, 120), seed=0)
    make_photo_folder(
        root / "photos_test", classes=6, per_class=max(20, per_class // 2), size=(160, 120), seed=1
    )
    train_dir = root / "photos_train"
    for c in range(4):
        shutil.copytree(root / "photos_all" / f"class_{c}", train_dir / f"class_{c}")
    test = root / "photos_test"
    held = [str(p) for c in (4, 5) for p in sorted((test / f"class_{c}").glob("*.jpg"))]
    return {
        "name": "photos",
        "train": train_dir,
        "img_size": 64,
        "test_in_dir": test,
        "known": [f"class_{c}" for c in range(4)],
        "ood": {"held-out classes (4, 5)": held},
    }


def in_dist_paths(setting: dict) -> tuple[list[str], list[int]]:
    paths, labels = [], []
    for i, c in enumerate(setting["known"]):
        for p in sorted((setting["test_in_dir"] / c).iterdir()):
            paths.append(str(p))
            labels.append(i)
    return paths, labels


def outputs_for(model, paths: list[str], labels: list[int], meta, tta: bool = False):
    samples = [Sample(p, lab) for p, lab in zip(paths, labels, strict=True)]
    return collect_outputs(model, samples, meta, batch_size=64, tta=tta)


def run_setting(setting: dict, epochs: int, out: Path, noise: list[str], other: list[str]) -> dict:
    t0 = time.perf_counter()
    result = train(
        TrainConfig(
            data_dir=str(setting["train"]),
            epochs=epochs,
            img_size=setting["img_size"],
            batch_size=32,
            workers=0,
            amp=False,
            out_dir=str(out / "runs"),
            run_name=setting["name"],
        )
    )
    train_s = time.perf_counter() - t0
    model, meta = load_model(result.checkpoint)
    trust = Trust.from_meta(meta.trust)
    paths, labels = in_dist_paths(setting)
    z, f, y = outputs_for(model, paths, labels, meta)
    ood_sets = dict(setting["ood"])
    ood_sets["uniform noise"] = noise
    ood_sets["other data set (natural-looking)" if setting["name"] == "shapes" else "shapes"] = other
    right = (z.argmax(1) == y).numpy()
    rows = {}
    for kind in openset.SCORES:
        tk = trust.with_score(kind)
        s_in = openset.score(kind, z, f, trust.temperature, trust.centroids).numpy()
        thr = tk.threshold()
        row = {
            "threshold": thr,
            "in_rejected": float((s_in < thr).mean()),
            "in_correct_rejected": float((s_in[right] < thr).mean()) if right.any() else None,
            "ood": {},
        }
        for name, ps in ood_sets.items():
            zo, fo, _ = outputs_for(model, ps, [0] * len(ps), meta)
            s_out = openset.score(kind, zo, fo, trust.temperature, trust.centroids).numpy()
            row["ood"][name] = {
                "n": len(ps),
                "auroc": auroc(s_in, s_out),
                "rejected": float((s_out < thr).mean()),
            }
        rows[kind] = row
    # calibration on the in-distribution test images (fresh seed) and as fitted on val
    probs = z.softmax(1)
    calib = {
        "temperature": trust.temperature,
        "val_ece_before": trust.ece_before,
        "val_ece_after": trust.ece_after,
        "test_ece_before": calibrate.ece(probs, y),
        "test_ece_after": calibrate.ece((z / trust.temperature).softmax(1), y),
        "test_nll_before": calibrate.nll(z, y),
        "test_nll_after": calibrate.nll(z, y, trust.temperature),
    }
    # TTA: accuracy and per-image time through the Predictor
    zt, _, _ = outputs_for(model, paths, labels, meta, tta=True)
    pred = Predictor(result.checkpoint, device="cpu")
    ms: dict[str, list[float]] = {"plain": [], "tta": []}
    for p in paths[:40] * 2:  # interleaved, so the machine's load weighs on both alike
        for tta in (False, True):
            pred.tta = tta
            ms["tta" if tta else "plain"].append(pred.predict_one(p).timing_ms["forward"])
    timing = {k: float(np.median(v)) for k, v in ms.items()}
    return {
        "setting": setting["name"],
        "train_s": train_s,
        "val_acc": result.best_val_acc,
        "test_in_n": len(paths),
        "test_acc": float(right.mean()),
        "test_acc_tta": float((zt.argmax(1) == y).float().mean()),
        "forward_ms_median": timing,
        "calibration": calib,
        "scores": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_trust_"))
    shapes = shapes_setting(root, args.per_class)
    photos = photos_setting(root, args.per_class)
    noise = [str(p) for p in sorted((noise_folder(root, 60, 64) / "noise").glob("*.png"))]
    photo_imgs = [
        str(p) for c in range(6) for p in sorted((root / "photos_test" / f"class_{c}").glob("*.jpg"))
    ]
    shape_imgs = [str(p) for p in sorted((root / "shapes_test").rglob("*.png"))]
    out = {"load_before": current_load(), "results": []}
    out["results"].append(run_setting(shapes, args.epochs, root, noise, photo_imgs[:60]))
    out["results"].append(run_setting(photos, args.epochs, root, noise, shape_imgs[:60]))
    out["load_after"] = current_load()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
