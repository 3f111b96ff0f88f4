"""The argument parser: every subcommand, its options, their defaults (from engine/config.py) and help."""

from __future__ import annotations

import argparse

from resnet_gui import __version__
from resnet_gui.cli.doctor import add_doctor_commands
from resnet_gui.cli.lr_find import cmd_lr_find
from resnet_gui.cli.predict import add_trust_options, cmd_predict
from resnet_gui.cli.runs import cmd_runs
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
    p.add_argument(
        "--install-desktop",
        action="store_true",
        help="add ResNet GUI to the desktop's application menu (Linux: ~/.local/share/applications) and exit",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sp

    sp = add("gui", cmd_gui, "open the desktop app (on DATA_DIR, else the last folder opened, else the demo)")
    sp.add_argument("data_dir", nargs="?", metavar="DATA_DIR", help="a folder with one subfolder per class")
    sp.add_argument("--checkpoint", metavar="CKPT", help="load it in Classify (default: the last one loaded)")

    sp = add("demo-data", cmd_demo_data, "write the synthetic demo dataset (shapes) to OUT_DIR")
    sp.add_argument("out_dir", metavar="OUT_DIR")
    sp.add_argument("--per-class", type=int, default=40, metavar="N")
    sp.add_argument("--size", type=int, default=64, metavar="PX")
    sp.add_argument("--seed", type=int, default=0, metavar="S")
    sp.add_argument("--with-val", action="store_true", help="write train/ and val/ folders")
    sp.add_argument("--json", action="store_true")

    sp = add("train", cmd_train, "train a classifier on DATA_DIR (one subfolder per class)")
    sp.add_argument("data_dir", metavar="DATA_DIR", help="a folder with one subfolder of images per class")
    d = DEFAULTS
    sp.add_argument("--arch", choices=ARCHS, default=d.arch, help="architecture (default: %(default)s)")
    sp.add_argument(
        "--epochs",
        type=int,
        default=d.epochs,
        metavar="N",
        help="passes over the training images (default: %(default)s)",
    )
    sp.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        metavar="N",
        help="images per step (default: %(default)s)",
    )
    sp.add_argument("--lr", type=float, default=d.lr, metavar="LR", help="peak learning rate (default: auto)")
    sp.add_argument(
        "--img-size",
        type=int,
        default=d.img_size,
        metavar="PX",
        help="input size (default: from the images, 32..224)",
    )
    sp.add_argument(
        "--val-split",
        type=float,
        default=d.val_split,
        metavar="F",
        help="share of each class held out for validation, unless DATA_DIR has train/ and val/ (default: %(default)s)",
    )
    sp.add_argument(
        "--pretrained",
        default=d.pretrained,
        metavar="none|imagenet|PATH|URL",
        help="start from ImageNet weights (downloaded when missing), a weights file or an http(s) URL (default: %(default)s)",
    )
    sp.add_argument("--freeze-backbone", action="store_true", help="train only the final layer")
    sp.add_argument(
        "--augment",
        choices=AUGMENT_PRESETS,
        default=d.augment,
        help="augmentation preset (default: %(default)s)",
    )
    sp.add_argument("--balance", action="store_true", help="sample classes evenly (imbalanced data)")
    sp.add_argument(
        "--device",
        default=d.device,
        metavar="|".join(DEVICES),
        help="where to train (default: %(default)s: CUDA, then MPS, then the CPU)",
    )
    sp.add_argument(
        "--workers", type=int, default=d.workers, metavar="N", help="data loading processes (default: auto)"
    )
    sp.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        metavar="S",
        help="for the split, the order and the weights (default: %(default)s)",
    )
    sp.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="runs are written to DIR/<run>/ (default: the runs folder the app shares, see `resnet-gui runs`)",
    )
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
    sp.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout (progress: stderr)"
    )

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
    add_trust_options(sp)

    sp = add("eval", cmd_eval, "accuracy, confusion matrix and per-class figures on DATA_DIR")
    sp.add_argument("checkpoint", metavar="CHECKPOINT")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("--classes", default=None, metavar="FILE")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--batch-size", type=int, default=64, metavar="N")
    sp.add_argument("--workers", type=int, default=None, metavar="N")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--tta", action="store_true", help="average each image with its mirror")

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
    sp.add_argument(
        "--int8", action="store_true", help="ONNX only: int8 quantised (onnxruntime), with a report"
    )
    sp.add_argument(
        "--data",
        default=None,
        metavar="DATA_DIR",
        help="with --int8: calibrate on its training images (static)",
    )
    sp.add_argument("--json", action="store_true", help="with --int8: the report as JSON")

    sp = add("bench", cmd_bench, "inference throughput of a checkpoint at several batch sizes")
    sp.add_argument("checkpoint", metavar="CHECKPOINT")
    sp.add_argument("--batch-sizes", default="1,8,32")
    sp.add_argument("--device", default="auto")
    sp.add_argument(
        "--repeats", type=int, default=20, metavar="N", help="timed passes per batch size (at most ~5 s each)"
    )
    sp.add_argument("--no-amp", action="store_true", help="on CUDA, skip the AMP (float16) rows")
    sp.add_argument("--json", action="store_true")

    add_doctor_commands(add)  # doctor, relabel, remove, keep, undo, redo (cli/doctor.py)
    sp = add("lr-find", cmd_lr_find, "suggest a learning rate: a short exponential LR sweep on DATA_DIR")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("--arch", choices=ARCHS, default=d.arch, help="default: %(default)s")
    sp.add_argument("--batch-size", type=int, default=d.batch_size, metavar="N", help="default: %(default)s")
    sp.add_argument("--img-size", type=int, default=d.img_size, metavar="PX", help="default: from the images")
    sp.add_argument("--val-split", type=float, default=d.val_split, metavar="F", help="held out, as in train")
    sp.add_argument("--pretrained", default=d.pretrained, metavar="none|imagenet|PATH")
    sp.add_argument("--freeze-backbone", action="store_true", help="sweep with only the final layer learning")
    sp.add_argument("--augment", choices=AUGMENT_PRESETS, default=d.augment, help="default: %(default)s")
    sp.add_argument("--device", default=d.device, metavar="|".join(DEVICES))
    sp.add_argument("--workers", type=int, default=d.workers, metavar="N")
    sp.add_argument("--seed", type=int, default=d.seed, metavar="S")
    sp.add_argument("--start-lr", type=float, default=1e-7, metavar="LR", help="default: %(default)g")
    sp.add_argument("--end-lr", type=float, default=10.0, metavar="LR", help="default: %(default)g")
    sp.add_argument("--steps", type=int, default=None, metavar="N", help="default: 100, fewer on small data")
    sp.add_argument("--json", action="store_true")

    sp = add("runs", cmd_runs, "list the runs in the runs folder the app shares (or DIR)")
    sp.add_argument("--dir", default=None, metavar="DIR", help="another runs folder (e.g. a train --out DIR)")
    sp.add_argument("--json", action="store_true")
    return p


def _add_recipe_options(sp: argparse.ArgumentParser, d) -> None:
    """`train` options of the recipe (issue 17): early stopping, EMA, progressive resizing, schedule, TTA."""
    from resnet_gui.engine.config import LAST_INTERVAL_S, MONITORS, SCHEDULES

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
        "--zero-init-residual",
        action=on_off,
        default=d.zero_init_residual,
        help="from scratch: start each residual block as identity (lost 15 points at 10 epochs; off)",
    )
    sp.add_argument(
        "--last-every",
        type=int,
        default=d.last_every,
        metavar="K",
        help="write last (resume state) every K epochs and at the end (default: after an epoch when "
        f"{LAST_INTERVAL_S:g} s have passed since the previous write)",
    )
