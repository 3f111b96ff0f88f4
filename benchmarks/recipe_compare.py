"""Our default recipe vs the classic tutorial recipe, accuracy per epoch on the same data.

The classic recipe (PyTorch transfer-learning tutorial style): Adam at lr 2e-4, no schedule, no weight
decay, plain cross-entropy, RandomResizedCrop with its default scale (0.08, 1) + horizontal flip.
Ours: whatever `TrainConfig()` defaults to. Both see the same train/val split, image size, batch size,
epochs and seed. Prints one table and the ratio of final accuracies.

    python benchmarks/recipe_compare.py [--epochs 6] [--per-class 60] [--img-size 64] [--finetune]

--time-to-accuracy (`make bench-recipe`): the issue-17 comparison instead, time to the tutorial's best
accuracy and accuracy in the same wall time, per data set over seeds (benchmarks/recipe_time.py; the
options after it are recipe_time.py's).

--finetune starts both from the same "pretrained" backbone: a ResNet-18 first trained on two of the four
demo classes (an honest stand-in for ImageNet weights, which cannot be downloaded here), then fine-tuned on
all four.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_gui.engine.config import IMAGENET_MEAN, IMAGENET_STD, TrainConfig  # noqa: E402
from resnet_gui.engine.data.dataset import ImageDataset, collate_skipping  # noqa: E402
from resnet_gui.engine.data.demo import make_demo_dataset  # noqa: E402
from resnet_gui.engine.data.scan import scan_dataset  # noqa: E402
from resnet_gui.engine.data.transforms import build_eval_transform  # noqa: E402
from resnet_gui.engine.train.loop import train  # noqa: E402


def classic_recipe(
    data_dir: Path,
    epochs: int,
    img_size: int,
    batch_size: int,
    seed: int,
    init_state: dict | None = None,
    *,
    lr: float = 2e-4,
    workers: int = 0,
) -> list[tuple[float, float]]:
    """The tutorial loop, written the way the tutorials write it: (wall seconds since the call, val acc)
    after each epoch. Adam at `lr`, images decoded by `workers` DataLoader processes every epoch."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    index = scan_dataset(data_dir, val_split=0.2, seed=seed)
    tf_train = T.Compose(
        [
            T.RandomResizedCrop(img_size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    train_loader = DataLoader(
        ImageDataset(index.train, tf_train),
        batch_size=batch_size,
        shuffle=True,
        collate_fn=collate_skipping,
        generator=torch.Generator().manual_seed(seed),
        num_workers=workers,
    )
    val_loader = DataLoader(
        ImageDataset(index.val, build_eval_transform(img_size)),
        batch_size=64,
        collate_fn=collate_skipping,
        num_workers=workers,
    )
    model = torchvision.models.resnet18(num_classes=len(index.classes))
    if init_state is not None:
        backbone = {k: v for k, v in init_state.items() if not k.startswith("fc.")}
        model.load_state_dict(backbone, strict=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    accs = []
    for _ in range(epochs):
        model.train()
        for x, y, _skipped in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = seen = 0
        with torch.no_grad():
            for x, y, _skipped in val_loader:
                correct += (model(x).argmax(1) == y).sum().item()
                seen += len(y)
        accs.append((time.perf_counter() - t0, correct / seen))
    return accs


def ours(
    data_dir: Path,
    epochs: int,
    img_size: int,
    batch_size: int,
    seed: int,
    out: Path,
    pretrained: str = "none",
) -> tuple[list[float], float]:
    cfg = TrainConfig(
        data_dir=str(data_dir),
        epochs=epochs,
        img_size=img_size,
        batch_size=batch_size,
        seed=seed,
        out_dir=str(out),
        workers=0,
        pretrained=pretrained,
    )
    result = train(cfg)
    return [h["val_acc"] for h in result.history], result.train_img_per_s


def main() -> None:
    if "--time-to-accuracy" in sys.argv[1:]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from recipe_time import main as time_to_accuracy

        time_to_accuracy([a for a in sys.argv[1:] if a != "--time-to-accuracy"])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--finetune", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = {"classic": [], "ours": []}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_demo_dataset(tmp / "shapes", per_class=args.per_class, size=args.img_size, seed=123)
        init_state, init_file = None, "none"
        if args.finetune:
            sub = tmp / "pre"
            sub.mkdir()
            for cls in ("circle", "square"):
                (sub / cls).symlink_to(data / cls, target_is_directory=True)
            pre = train(
                TrainConfig(
                    data_dir=str(sub),
                    epochs=4,
                    img_size=args.img_size,
                    out_dir=str(tmp / "pre-run"),
                    workers=0,
                )
            )
            init_file = pre.checkpoint
            from resnet_gui.engine.model.checkpoint import load_checkpoint

            init_state, _ = load_checkpoint(init_file)
        for seed in seeds:
            classic = classic_recipe(data, args.epochs, args.img_size, args.batch_size, seed, init_state)
            rows["classic"].append([acc for _, acc in classic])
            accs, _ = ours(
                data, args.epochs, args.img_size, args.batch_size, seed, tmp / f"ours-{seed}", init_file
            )
            rows["ours"].append(accs)
    mean = {k: [sum(v[e] for v in runs) / len(runs) for e in range(args.epochs)] for k, runs in rows.items()}
    mode = "fine-tune" if args.finetune else "from scratch"
    print(
        f"val accuracy per epoch, resnet18 {mode}, demo {args.per_class}/class at {args.img_size}px, "
        f"mean of seeds {seeds} ({time.perf_counter() - t0:.0f}s)"
    )
    print("epoch  " + "  ".join(f"{e + 1:>5}" for e in range(args.epochs)))
    for k, v in mean.items():
        print(f"{k:<7}" + "  ".join(f"{100 * a:5.1f}" for a in v))
    final_ratio = mean["ours"][-1] / max(mean["classic"][-1], 1e-9)
    auc_ratio = sum(mean["ours"]) / max(sum(mean["classic"]), 1e-9)
    print(f"ours/classic: final accuracy x{final_ratio:.2f}, mean accuracy over epochs x{auc_ratio:.2f}")
    if args.json:
        print(json.dumps({"mode": mode, "mean": mean, "runs": rows}))


if __name__ == "__main__":
    main()
