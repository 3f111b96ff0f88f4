"""The other subcommands: `gui`, `eval`, `inspect`, `export`, `bench`."""

from __future__ import annotations

import sys
from pathlib import Path

from resnet_gui.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    CliError,
    _emit_json,
    check_input_file,
    check_output_file,
    term_safe,
)
from resnet_gui.cli.weights import check_model, compact_eval, default_export_name


def cmd_gui(args) -> int:
    from resnet_gui.ui.xcb_check import display_problem

    problem = display_problem()  # before Qt, which aborts the process (SIGABRT) on a dead display
    if problem:
        raise CliError(problem)
    try:
        from resnet_gui.ui.app import run_app
    except ImportError as exc:  # the app is optional for headless use
        raise CliError(f"the desktop app cannot start: {exc}") from exc
    return run_app(data_dir=args.data_dir, checkpoint=args.checkpoint)


def cmd_eval(args) -> int:
    from resnet_gui.engine.data.scan import scan_dataset
    from resnet_gui.engine.evaluate import evaluate_checkpoint

    check_model(args.checkpoint)  # a file, or imagenet:ARCH (downloaded when missing)
    if args.classes:
        check_input_file(args.classes, "--classes")
    result = evaluate_checkpoint(
        args.checkpoint,
        args.data_dir,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        classes_file=args.classes,
        tta=getattr(args, "tta", False),
    )
    if str(args.checkpoint).lower().startswith("imagenet:"):  # 1,000 classes: the ones that occur
        result = compact_eval(result)
    # what the Dataset view would show: the scan's problems, and 0-byte files among the skipped ones
    index = scan_dataset(args.data_dir, val_split=0.0)
    split = "val" if index.split_source == "folders" and index.val else None
    empties = [p for k, paths in index.empty_files.items() if split is None or k == split for p in paths]
    known = {s["path"] for s in result.skipped}
    result.skipped += [{"path": p, "reason": "empty file (0 bytes)"} for p in empties if p not in known]
    for problem in index.problems:
        print(f"warning: {term_safe(problem)}", file=sys.stderr)
    note = training_overlap_note(args.checkpoint, args.data_dir, result.split, result.num_images)
    if note:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        _emit_json({**result.to_json(), "problems": list(index.problems)})
    else:
        print(term_safe(result.to_table(), keep_newlines=True))
    return EXIT_PARTIAL if result.skipped else EXIT_OK


def training_overlap_note(checkpoint: str, data_dir: str, split: str, num_images: int) -> str | None:
    """When `eval` counted every image of the folder the model was trained on: say the figure includes
    its training images (and so is optimistic). None when a val/ folder was used or the folders differ."""
    from resnet_gui.engine.errors import CheckpointError
    from resnet_gui.engine.model.weights import read_metadata

    if split != "all":
        return None
    try:
        meta = read_metadata(checkpoint) or {}
    except CheckpointError:  # a plain state_dict file: nothing known about its training data
        return None
    trained_on = (meta.get("config") or {}).get("data_dir")
    if not trained_on or Path(trained_on).resolve() != Path(data_dir).resolve():
        return None
    val_split = (meta.get("config") or {}).get("val_split")
    held = f" only about {100 * val_split:.0f}% of them were held out for validation" if val_split else ""
    return (
        f"the {num_images} images counted are all of {data_dir}, which this model was trained on:{held}; "
        "the accuracy includes its training images and is optimistic. For a fair figure evaluate on a "
        "folder it has not seen, or look at the run's own evaluation (best model on its validation images)."
    )


def cmd_inspect(args) -> int:
    from resnet_gui.engine.config import IMG_SIZE_RANGE
    from resnet_gui.engine.model.describe import describe_model
    from resnet_gui.engine.model.schema import MAX_CLASSES

    lo, hi = IMG_SIZE_RANGE
    if args.img_size is not None and not lo <= args.img_size <= hi:
        raise CliError(f"--img-size {args.img_size} is out of range ({lo}..{hi} px)")
    if args.num_classes is not None and not 1 <= args.num_classes <= MAX_CLASSES:
        raise CliError(f"--num-classes {args.num_classes} is out of range (1..{MAX_CLASSES})")
    desc = describe_model(args.model, num_classes=args.num_classes, img_size=args.img_size)
    if args.json:
        _emit_json(desc.to_json())
    else:
        print(term_safe(desc.to_table(), keep_newlines=True))
    return EXIT_OK


def cmd_export(args) -> int:
    from resnet_gui.engine.infer.export import export_model

    check_model(args.checkpoint)  # a file, or imagenet:ARCH (downloaded when missing)
    if args.out:
        check_output_file(args.out, "--out")
    if getattr(args, "int8", False):
        return _export_int8(args)
    out = export_model(
        args.checkpoint, fmt=args.format, out=args.out or default_export_name(args.checkpoint, args.format)
    )
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB; class names and preprocessing inside)",
        file=sys.stderr,
    )
    return EXIT_OK


def _export_int8(args) -> int:
    """`export --format onnx --int8 [--data DATA_DIR]`: the file, and its size, latency and agreement."""
    from resnet_gui.engine.infer.quantize import export_int8

    if args.format != "onnx":
        raise CliError("--int8 needs --format onnx")
    if args.data and not Path(args.data).is_dir():
        raise CliError(f"--data: {args.data} is not a folder")
    print("exporting fp32, quantising" + (" (calibrating)" if args.data else "") + "…", file=sys.stderr)
    report = export_int8(args.checkpoint, out=args.out, data_dir=args.data)
    print(f"wrote {report.path}", file=sys.stderr)
    for line in report.lines():
        print("  " + line, file=sys.stderr)
    if args.json:
        _emit_json(report.to_json())
    return EXIT_OK


def cmd_bench(args) -> int:
    from resnet_gui.engine.infer.bench import bench_checkpoint

    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise CliError(f"--batch-sizes: expected numbers like 1,8,32, got {args.batch_sizes!r}") from exc
    check_model(args.checkpoint)  # a file, or imagenet:ARCH (downloaded when missing)
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
