"""The `resnet-gui` command line: the same engine as the app, headless.

Progress goes to stderr; with --json stdout holds exactly one JSON object. Errors are one line
`error: ...` on stderr (traceback only with --debug). Exit 0 = all good, 1 = some inputs failed (still
reported), 2 = usage or unusable input.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from resnet_gui import __version__
from resnet_gui.format import fmt_duration, fmt_pct

SUBCOMMANDS = ("gui", "demo-data", "train", "predict", "eval", "inspect", "export", "bench")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
EXIT_STOPPED = 130  # predict --csv interrupted by Ctrl+C: the CSV is valid, re-run to continue


class CliError(Exception):
    """A usage problem found after parsing; printed as `error: ...`, exit 2."""


# -- progress on stderr ---------------------------------------------------------------------------------


def _fmt_s(seconds: float | None) -> str:
    """ETA and wall time in progress lines: 00:42, 12:03, 1:02:03; --:-- when unknown."""
    return fmt_duration(seconds, unknown="--:--", pad_minutes=True)


def _pct(x: float | None) -> str:
    """A percentage in an aligned column: ` 88.8%`, `  n/a`."""
    return fmt_pct(x, unknown="  n/a", width=5)


class TrainProgress:
    """Turns engine events into a progress bar (TTY) or one line per epoch (logs)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar_open = False

    def _line(self, text: str) -> None:
        if self._bar_open:
            self.stream.write("\r\033[K")
            self._bar_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event) -> None:
        from resnet_gui.engine import events as ev

        if isinstance(event, ev.RunStarted):
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
            self._line(
                f"training {event.arch} on {event.device_name}: {len(event.classes)} classes, "
                f"{event.num_train} train / {event.num_val} val images at {event.img_size}px{resumed}"
            )
            self._line(f"checkpoints -> {event.out_dir}")
        elif isinstance(event, ev.StepDone) and self.tty:
            width = 24
            filled = int(width * event.step / max(1, event.steps))
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(
                f"\repoch {event.epoch}/{event.epochs} [{bar}] {event.step}/{event.steps} "
                f"loss {event.loss:.3f}  {event.img_per_s:6.1f} img/s  ETA {_fmt_s(event.eta_s)}\033[K"
            )
            self.stream.flush()
            self._bar_open = True
        elif isinstance(event, ev.EpochDone):
            val = (
                "" if event.val_acc is None else f"  val loss {event.val_loss:.3f} acc {_pct(event.val_acc)}"
            )
            star = "  *best" if event.is_best else ""
            self._line(
                f"epoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.3f} acc {_pct(event.train_acc)}"
                f"{val}  {event.img_per_s:.1f} img/s  {event.epoch_s:.1f}s  ETA {_fmt_s(event.eta_s)}{star}"
            )
        elif isinstance(event, ev.ImageSkipped):
            self._line(f"skipped {event.path}: {event.reason}")
        elif isinstance(event, ev.EvalDone):
            r = event.result
            self._line(
                f"best model on {r.num_images} val images: accuracy {_pct(r.accuracy).strip()}, "
                f"loss {r.loss:.3f}, {len(r.misclassified)} misclassified"
            )
        elif isinstance(event, ev.RunFinished):
            r = event.result
            how = "stopped" if r.stopped else "finished"
            best = "" if r.best_val_acc is None else f", best val acc {_pct(r.best_val_acc).strip()}"
            self._line(
                f"{how} after {r.epochs} epochs in {_fmt_s(r.wall_s)}{best}; best model: {r.checkpoint}"
            )


# -- subcommands ----------------------------------------------------------------------------------------


def _emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def cmd_gui(args) -> int:
    try:
        from resnet_gui.ui.app import run_app
    except ImportError as exc:  # the app is optional for headless use
        raise CliError(f"the desktop app cannot start: {exc}") from exc
    return run_app(data_dir=args.data_dir, checkpoint=args.checkpoint)


def cmd_demo_data(args) -> int:
    from resnet_gui.engine.data.demo import make_demo_dataset

    t0 = time.perf_counter()
    out = make_demo_dataset(
        args.out_dir, per_class=args.per_class, size=args.size, seed=args.seed, with_val=args.with_val
    )
    print(f"wrote demo dataset to {out} in {time.perf_counter() - t0:.2f}s", file=sys.stderr)
    if args.json:
        from resnet_gui.engine.data.scan import scan_dataset

        _emit_json(scan_dataset(out).to_json())
    return EXIT_OK


def _parse_pretrained(value: str) -> str:
    if value in ("none", "imagenet"):
        return value
    if not Path(value).is_file():
        raise CliError(f"--pretrained: {value} is not 'none', 'imagenet' or an existing weights file")
    return value


def _strip_nproc(argv: list[str]) -> list[str]:
    """The command line without `--nproc N` / `--nproc=N` (what each rank runs)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def _train_ranks(args, nproc: int) -> int:
    """`train --nproc N`: N ranks of this same command through PyTorch's elastic launcher (DDP)."""
    from resnet_gui.engine.train.launch import run_ranks

    if not Path(args.data_dir).is_dir():  # checked once here, not N times in the ranks
        raise CliError(f"{args.data_dir} is not a folder")
    if args.batch_size < nproc:
        raise CliError(f"--batch-size {args.batch_size} is the global batch: at least --nproc ({nproc})")
    print(f"starting {nproc} training processes (DDP)", file=sys.stderr)
    return run_ranks(nproc, "resnet_gui", _strip_nproc(args.argv), quiet=not getattr(args, "debug", False))


def cmd_train(args) -> int:
    from resnet_gui.engine.train.distributed import launched_rank
    from resnet_gui.engine.train.launch import resolve_nproc

    if args.resume and not Path(args.resume).is_file():
        raise CliError(f"--resume: {args.resume} does not exist")
    try:
        nproc = resolve_nproc(args.nproc)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    rank, world = launched_rank()
    if nproc > 1 and world == 1:
        return _train_ranks(args, nproc)

    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.train.distributed import watch_parent
    from resnet_gui.engine.train.loop import train

    watch_parent()  # under a launcher: a killed launcher takes this rank with it
    config = TrainConfig(
        data_dir=args.data_dir,
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        img_size=args.img_size,
        val_split=args.val_split,
        pretrained=_parse_pretrained(args.pretrained),
        freeze_backbone=args.freeze_backbone,
        augment=args.augment,
        balance=args.balance,
        device=args.device,
        workers=args.workers,
        seed=args.seed,
        out_dir=args.out,
        resume=args.resume,
        sync_bn=args.sync_bn,
    )
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl+C: stop cleanly after this batch; second: abort
        if stop.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        print("\nstopping after this batch (Ctrl+C again to abort)...", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, on_sigint)
    previous_term = signal.getsignal(signal.SIGTERM)
    if world > 1:  # the launcher forwards Ctrl+C as SIGINT, and stops ranks with SIGTERM
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        result = train(config, on_event=TrainProgress() if rank == 0 else None, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    if rank > 0:  # rank 0 speaks for the run: its progress, its JSON, its exit status
        return EXIT_OK
    if args.json:
        _emit_json(result.to_json())
    if result.skipped:  # like eval: the run is usable, but some inputs failed (each was reported above)
        print(f"{len(result.skipped)} file(s) could not be read and were skipped", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _load_predictor(checkpoint: str, device: str, classes: str | None):
    from resnet_gui.engine.infer.predict import Predictor

    if not Path(checkpoint).is_file():
        raise CliError(f"checkpoint {checkpoint} does not exist")
    return Predictor(checkpoint, device=device, classes_file=classes)


def cmd_predict(args) -> int:
    from resnet_gui.engine.infer.predict import expand_inputs, write_predictions_csv

    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    if args.csv and not args.json and not args.cam:
        return _predict_to_csv(args)
    if args.csv:  # fail before the work, not after it (the CSV was written last)
        _check_output_file(Path(args.csv))
    predictor = _load_predictor(args.checkpoint, args.device, args.classes)
    paths = expand_inputs(args.paths)
    if not paths:
        raise CliError("no images found in the given paths")
    results = []
    cams: dict[str, str] = {}  # input path -> overlay written (--cam)
    cam_dir = Path(args.cam) if args.cam else None
    if cam_dir is not None:
        cam_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        pred = predictor.predict_one(path, topk=args.topk)
        results.append(pred)
        if cam_dir is not None and pred.error is None:
            cams[str(path)] = _write_cam(predictor, path, cam_dir, set(cams.values()))
        if not args.json:
            if pred.error:
                print(f"{path}: error: {pred.error}")
            else:
                tops = ", ".join(f"{c} {fmt_pct(p)}" for c, p in pred.topk)
                t = pred.timing_ms
                print(
                    f"{path}: {tops}  [{t['total']:.1f} ms: load {t['load']:.1f}, "
                    f"preprocess {t['preprocess']:.1f}, forward {t['forward']:.1f}]"
                )
    if args.csv:
        write_predictions_csv(results, args.csv)
    if cams:
        print(f"wrote {len(cams)} Grad-CAM overlay(s) to {cam_dir}", file=sys.stderr)
    if args.json:
        _emit_json(
            {
                "checkpoint": args.checkpoint,
                "device": str(predictor.device),
                "device_name": predictor.device_name,
                "results": [
                    {**p.to_json(), **({"cam": cams[p.path]} if p.path in cams else {})} for p in results
                ],
            }
        )
    failed = sum(1 for p in results if p.error)
    if failed:
        print(f"{failed} of {len(results)} inputs failed", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _check_output_file(path: Path) -> None:
    if path.is_dir():
        raise CliError(f"--csv {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise CliError(f"--csv {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CliError(f"--csv {path}: not writable")


def _predict_to_csv(args) -> int:
    """`predict PATH... --csv FILE`: streamed in batches, resumable, progress on stderr (any folder size)."""
    from resnet_gui.engine.infer.batch import predict_folder_to_csv

    _check_output_file(Path(args.csv))
    predictor = _load_predictor(args.checkpoint, args.device, args.classes)
    stop = threading.Event()
    tty = sys.stderr.isatty()

    def progress(p) -> None:
        line = f"{p.done}/{p.total} images  {p.img_per_s:.1f} img/s  ETA {_fmt_s(p.eta_s)}" + (
            f"  {p.errors} errors" if p.errors else ""
        )
        sys.stderr.write(("\r\033[K" + line) if tty else line + "\n")
        sys.stderr.flush()

    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl+C: finish the batch, keep the CSV
    try:
        summary = predict_folder_to_csv(
            predictor,
            args.paths,
            args.csv,
            batch_size=args.batch_size,
            workers=args.workers,
            topk=args.topk,
            on_progress=progress,
            stop=stop,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        if tty:
            sys.stderr.write("\n")
    if summary.total == 0:
        raise CliError("no images found in the given paths")
    resumed = f", {summary.already_done} already there" if summary.already_done else ""
    print(
        f"wrote {summary.written} rows to {args.csv} ({summary.img_per_s:.1f} img/s{resumed}"
        f"{', stopped: run again to continue' if summary.stopped else ''})",
        file=sys.stderr,
    )
    if summary.errors:
        print(f"{summary.errors} of {summary.written} inputs failed", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_STOPPED if summary.stopped else EXIT_OK


def _write_cam(predictor, path: Path, out_dir: Path, taken: set[str]) -> str:
    """Grad-CAM overlay of `path` as OUT_DIR/<stem>_cam.png (<stem>-2_cam.png, ... when names repeat)."""
    from resnet_gui.engine.infer.gradcam import explain

    stem, n = Path(path).stem, 1
    out = out_dir / f"{stem}_cam.png"
    while str(out) in taken:
        n += 1
        out = out_dir / f"{stem}-{n}_cam.png"
    explain(predictor, path).overlay.save(out)
    return str(out)


def cmd_eval(args) -> int:
    from resnet_gui.engine.evaluate import evaluate_checkpoint

    if not Path(args.checkpoint).is_file():
        raise CliError(f"checkpoint {args.checkpoint} does not exist")
    result = evaluate_checkpoint(
        args.checkpoint,
        args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        classes_file=args.classes,
    )
    if args.json:
        _emit_json(result.to_json())
    else:
        print(result.to_table())
    return EXIT_PARTIAL if result.skipped else EXIT_OK


def cmd_inspect(args) -> int:
    from resnet_gui.engine.model.describe import describe_model

    desc = describe_model(args.model, num_classes=args.num_classes, img_size=args.img_size)
    if args.json:
        _emit_json(desc.to_json())
    else:
        print(desc.to_table())
    return EXIT_OK


def cmd_export(args) -> int:
    from resnet_gui.engine.infer.export import export_model

    if not Path(args.checkpoint).is_file():
        raise CliError(f"checkpoint {args.checkpoint} does not exist")
    out = export_model(args.checkpoint, fmt=args.format, out=args.out)
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB; class names and preprocessing inside)",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_bench(args) -> int:
    from resnet_gui.engine.infer.bench import bench_checkpoint

    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise CliError(f"--batch-sizes: expected numbers like 1,8,32, got {args.batch_sizes!r}") from exc
    if not Path(args.checkpoint).is_file():
        raise CliError(f"checkpoint {args.checkpoint} does not exist")
    result = bench_checkpoint(
        args.checkpoint,
        batch_sizes=sizes,
        device=args.device,
        repeats=args.repeats,
        amp=False if args.no_amp else None,
    )
    if args.json:
        _emit_json(result)
    else:
        print(f"{result['arch']} on {result['device_name']} at {result['img_size']}px (forward pass only)")
        print("  precision  batch   p50 ms/batch   p95 ms/batch      img/s   peak MB")
        for row in result["rows"]:
            mem = "n/a" if row["peak_mem_mb"] is None else f"{row['peak_mem_mb']:.0f}"
            print(
                f"  {row['precision']:<9} {row['batch_size']:5d}  {row['p50_ms']:13.2f}  "
                f"{row['p95_ms']:13.2f}  {row['img_per_s']:9.1f}  {mem:>8}"
            )
    return EXIT_OK


# -- parser ---------------------------------------------------------------------------------------------


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


def _normalise_argv(argv: list[str]) -> list[str]:
    """`resnet-gui` and `resnet-gui DATA_DIR` open the app."""
    if not argv:
        return ["gui"]
    first = next((a for a in argv if a != "--debug"), None)
    if first is None:
        return argv + ["gui"]
    if first.startswith("-") or first in SUBCOMMANDS:
        return argv
    i = argv.index(first)
    return argv[:i] + ["gui"] + argv[i:]


def main(argv: list[str] | None = None) -> int:
    argv = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # `train --nproc N` runs the same command line in each rank
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from resnet_gui.engine.train.launch import record_exit

    code = _run(args, debug)
    record_exit(code)  # rank 0 under `train --nproc N`: for the command that launched it
    return code


def _run(args, debug: bool) -> int:
    from resnet_gui.engine.errors import EngineError

    rank = os.environ.get("RANK", "0") if "WORLD_SIZE" in os.environ else "0"
    where = "" if rank == "0" else f" (rank {rank})"
    try:
        return args.func(args)
    except (CliError, EngineError) as exc:
        if debug:
            raise
        print(f"error{where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `resnet-gui predict ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug or an environment problem: still one line unless --debug
        if debug:
            raise
        print(
            f"error{where}: {type(exc).__name__}: {exc} (run with --debug for a traceback)", file=sys.stderr
        )
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
