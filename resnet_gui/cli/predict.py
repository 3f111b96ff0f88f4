"""`resnet-gui predict`: a few images (printed or --json), or any number streamed into a --csv."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from resnet_gui.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STOPPED,
    CliError,
    _emit_json,
    _fmt_s,
    check_input_file,
    check_output_file,
    term_safe,
)
from resnet_gui.cli.weights import check_model
from resnet_gui.format import fmt_pct


def add_trust_options(sp) -> None:
    """`predict --tta` and `--strictness` (engine/infer/trust.py)."""
    sp.add_argument(
        "--tta", action="store_true", help="average each image with its mirror (test-time augmentation)"
    )
    sp.add_argument(
        "--strictness",
        type=float,
        default=None,
        metavar="PCT",
        help="'none of these' strictness: the %% of correctly classified validation images that would be called "
        "unknown (0 turns rejection off, at most 50; default: the checkpoint's, 5)",
    )


def _load_predictor(checkpoint: str, device: str, classes: str | None, args=None):
    from resnet_gui.engine.infer.predict import Predictor

    check_model(checkpoint)  # a file, or imagenet:ARCH (downloaded when missing)
    if classes:
        check_input_file(classes, "--classes")
    strictness = getattr(args, "strictness", None)
    if strictness is not None and not 0 <= strictness <= 50:
        raise CliError("--strictness is a percentage from 0 to 50")
    predictor = Predictor(checkpoint, device=device, classes_file=classes)
    predictor.tta = bool(getattr(args, "tta", False))
    if strictness is not None:
        predictor.rate = strictness / 100.0
    return predictor


def _answer_text(pred) -> str:
    """The printed answer: top-k, or "unknown (closest: ...)" when the model says none of these."""
    tops = ", ".join(f"{term_safe(c)} {fmt_pct(p)}" for c, p in pred.topk)  # names: shown, never obeyed
    if pred.unknown:
        return f"unknown: not like any of the classes it was trained on (closest: {tops})"
    return tops


def cmd_predict(args) -> int:
    from resnet_gui.engine.infer.predict import expand_inputs, write_predictions_csv
    from resnet_gui.engine.train.launch import resolve_nproc

    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    try:  # auto: one per CUDA device, so one when the device asked for is the CPU
        cpu = str(args.device).strip().lower() == "cpu" and str(args.nproc).strip().lower() == "auto"
        nproc = 1 if cpu else resolve_nproc(args.nproc)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.csv and not args.json and not args.cam:
        return _predict_to_csv(args, nproc)
    if nproc > 1:
        raise CliError("--nproc works with --csv alone (not with --json or --cam)")
    if args.strictness is not None and not 0 <= args.strictness <= 50:
        raise CliError("--strictness is a percentage from 0 to 50")
    if args.csv:  # fail before the work, not after it (the CSV is written last)
        check_output_file(args.csv, "--csv")
    predictor = _load_predictor(args.checkpoint, args.device, args.classes, args)
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
                print(f"{term_safe(path)}: error: {term_safe(pred.error)}")
            else:  # class and file names may hold escape sequences: shown, never obeyed
                tops = _answer_text(pred)
                t = pred.timing_ms
                print(
                    f"{term_safe(path)}: {tops}  [{t['total']:.1f} ms: load {t['load']:.1f}, "
                    f"preprocess {t['preprocess']:.1f}, forward {t['forward']:.1f}]"
                )
    if cams:
        print(f"wrote {len(cams)} Grad-CAM overlay(s) to {term_safe(cam_dir)}", file=sys.stderr)
    if args.json:  # first: a CSV that fails to write now (its folder removed meanwhile) loses nothing
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
    if args.csv:
        try:
            write_predictions_csv(results, args.csv)
        except OSError as exc:
            raise CliError(
                f"could not write --csv {term_safe(args.csv)}: {exc.strerror or exc} (the results are above)"
            ) from None
    failed = sum(1 for p in results if p.error)
    if failed:
        print(f"{failed} of {len(results)} inputs failed", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _predict_to_csv(args, nproc: int = 1) -> int:
    """`predict PATH... --csv FILE`: streamed in batches, resumable, progress on stderr (any folder size);
    `--nproc N`: in N processes (engine/infer/batch_procs.py), each loading the checkpoint itself."""
    from resnet_gui.engine.infer.batch import predict_folder_to_csv
    from resnet_gui.engine.infer.batch_procs import predict_folder_to_csv_procs

    check_output_file(args.csv, "--csv")
    if nproc > 1 and (args.tta or args.strictness is not None):
        raise CliError("--tta and --strictness work with one process (not with --nproc)")
    if nproc > 1:
        check_model(args.checkpoint)
        print(f"predicting in {nproc} processes", file=sys.stderr)
    else:
        predictor = _load_predictor(args.checkpoint, args.device, args.classes, args)
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
        opts = dict(
            batch_size=args.batch_size, workers=args.workers, topk=args.topk, on_progress=progress, stop=stop
        )
        if nproc > 1:
            summary = predict_folder_to_csv_procs(
                args.checkpoint,
                args.paths,
                args.csv,
                nproc,
                classes_file=args.classes,
                device=args.device,
                **opts,
            )
        else:
            summary = predict_folder_to_csv(predictor, args.paths, args.csv, **opts)
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
