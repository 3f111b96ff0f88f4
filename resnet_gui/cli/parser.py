"""The argument parser: every subcommand, its options, their defaults (from engine/config.py) and help."""

from __future__ import annotations

import argparse

from resnet_gui import __version__
from resnet_gui.cli.predict import cmd_predict
from resnet_gui.cli.tools import cmd_bench, cmd_eval, cmd_export, cmd_gui, cmd_inspect
from resnet_gui.cli.train import cmd_demo_data, cmd_train


def build_parser() -> argparse.ArgumentParser:
    from resnet_gui.engine.config import ARCHS, AUGMENT_PRESETS, DEFAULTS, DEVICES

    p = argparse.ArgumentParser(
        prog="resnet-gui",
        description="Train and use ResNet image classifiers. With no command, opens the desktop app.",
    )
    p.add_argument("--version", action="version", version=f"resnet-gui {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sp

    sp = add("gui", cmd_gui, "open the desktop app (on the built-in demo dataset when no DATA_DIR)")
    sp.add_argument("data_dir", nargs="?", metavar="DATA_DIR")
    sp.add_argument("--checkpoint", metavar="CKPT")

    sp = add("demo-data", cmd_demo_data, "write the synthetic demo dataset (shapes) to OUT_DIR")
    sp.add_argument("out_dir", metavar="OUT_DIR")
    sp.add_argument("--per-class", type=int, default=40, metavar="N")
    sp.add_argument("--size", type=int, default=64, metavar="PX")
    sp.add_argument("--seed", type=int, default=0, metavar="S")
    sp.add_argument("--with-val", action="store_true", help="write train/ and val/ folders")
    sp.add_argument("--json", action="store_true")

    sp = add("train", cmd_train, "train a classifier on DATA_DIR (one subfolder per class)")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    d = DEFAULTS
    sp.add_argument("--arch", choices=ARCHS, default=d.arch, help="default: %(default)s")
    sp.add_argument("--epochs", type=int, default=d.epochs, metavar="N", help="default: %(default)s")
    sp.add_argument("--batch-size", type=int, default=d.batch_size, metavar="N", help="default: %(default)s")
    sp.add_argument("--lr", type=float, default=d.lr, metavar="LR", help="peak learning rate (default: auto)")
    sp.add_argument(
        "--img-size", type=int, default=d.img_size, metavar="PX", help="default: from the images, 32..224"
    )
    sp.add_argument("--val-split", type=float, default=d.val_split, metavar="F", help="default: %(default)s")
    sp.add_argument("--pretrained", default=d.pretrained, metavar="none|imagenet|PATH")
    sp.add_argument("--freeze-backbone", action="store_true", help="train only the final layer")
    sp.add_argument("--augment", choices=AUGMENT_PRESETS, default=d.augment, help="default: %(default)s")
    sp.add_argument("--balance", action="store_true", help="sample classes evenly (imbalanced data)")
    sp.add_argument("--device", default=d.device, metavar="|".join(DEVICES))
    sp.add_argument(
        "--workers", type=int, default=d.workers, metavar="N", help="data loading processes (default: auto)"
    )
    sp.add_argument("--seed", type=int, default=d.seed, metavar="S")
    sp.add_argument("--out", default=d.out_dir, metavar="DIR", help="runs are written to DIR/<run>/")
    sp.add_argument(
        "--resume", default=None, metavar="CKPT", help="continue a run (use --epochs for the new total)"
    )
    sp.add_argument(
        "--nproc",
        default="1",
        metavar="N|auto",
        help="training processes on this machine (DDP; auto: one per CUDA device); default: 1",
    )
    sp.add_argument(
        "--sync-bn", action="store_true", help="with several processes: BatchNorm over the global batch"
    )
    _add_recipe_options(sp, d)
    sp.add_argument("--json", action="store_true")

    sp = add("predict", cmd_predict, "classify images (files or folders) with a checkpoint")
    sp.add_argument("checkpoint", metavar="CHECKPOINT")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--topk", type=int, default=5, metavar="K")
    sp.add_argument("--classes", default=None, metavar="FILE", help="class names for a plain state_dict file")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--json", action="store_true")
    sp.add_argument(
        "--csv",
        default=None,
        metavar="FILE",
        help="write one row per image; without --json streamed in batches and resumable (re-run to continue)",
    )
    sp.add_argument("--batch-size", type=int, default=32, metavar="N", help="with --csv (default: 32)")
    sp.add_argument("--workers", type=int, default=None, metavar="N", help="with --csv: decoding processes")
    sp.add_argument(
        "--nproc",
        default="1",
        metavar="N|auto",
        help="with --csv: N prediction processes (auto: one per CUDA device); default: 1",
    )
    sp.add_argument(
        "--cam", default=None, metavar="OUT_DIR", help="also write Grad-CAM overlays, OUT_DIR/<name>_cam.png"
    )

    sp = add("eval", cmd_eval, "accuracy, confusion matrix and per-class figures on DATA_DIR")
    sp.add_argument("checkpoint", metavar="CHECKPOINT")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("--classes", default=None, metavar="FILE")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--batch-size", type=int, default=64, metavar="N")
    sp.add_argument("--workers", type=int, default=None, metavar="N")
    sp.add_argument("--json", action="store_true")

    sp = add(
        "inspect", cmd_inspect, "layers, output shapes, parameters and MACs of an architecture or checkpoint"
    )
    sp.add_argument("model", metavar="ARCH|CHECKPOINT")
    sp.add_argument("--num-classes", type=int, default=None, metavar="N")
    sp.add_argument(
        "--img-size", type=int, default=None, metavar="PX", help="default: the checkpoint's, or 224"
    )
    sp.add_argument("--json", action="store_true")

    sp = add("export", cmd_export, "export a checkpoint to ONNX or TorchScript")
    sp.add_argument("checkpoint", metavar="CHECKPOINT")
    sp.add_argument("--format", choices=("onnx", "torchscript"), required=True)
    sp.add_argument("--out", default=None, metavar="FILE")

    sp = add("bench", cmd_bench, "inference throughput of a checkpoint at several batch sizes")
    sp.add_argument("checkpoint", metavar="CHECKPOINT")
    sp.add_argument("--batch-sizes", default="1,8,32")
    sp.add_argument("--device", default="auto")
    sp.add_argument(
        "--repeats", type=int, default=20, metavar="N", help="timed passes per batch size (at most ~5 s each)"
    )
    sp.add_argument("--no-amp", action="store_true", help="on CUDA, skip the AMP (float16) rows")
    sp.add_argument("--json", action="store_true")
    return p


def _add_recipe_options(sp: argparse.ArgumentParser, d) -> None:
    """`train` options of the recipe (issue 17): early stopping, EMA, progressive resizing, schedule, TTA."""
    from resnet_gui.engine.config import MONITORS, SCHEDULES

    on_off = argparse.BooleanOptionalAction
    sp.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        metavar="N",
        help="stop after N epochs without a better --monitor figure (default: off; --epochs stays the cap)",
    )
    sp.add_argument("--monitor", choices=MONITORS, default=d.monitor, help="default: %(default)s")
    sp.add_argument("--ema", action=on_off, default=d.ema, help="validate and save an EMA of the weights")
    sp.add_argument(
        "--progressive-resize", action=on_off, default=d.progressive_resize, help="small images early"
    )
    sp.add_argument(
        "--schedule", choices=SCHEDULES, default=d.schedule, help="LR shape (default: %(default)s)"
    )
    sp.add_argument("--flip-tta", action=on_off, default=d.flip_tta, help="validate with mirrored images too")
    sp.add_argument(
        "--last-every",
        type=int,
        default=d.last_every,
        metavar="K",
        help="write last (resume state) every K epochs and at the end (default: %(default)s)",
    )
