"""The other subcommands: `gui`, `eval`, `inspect`, `export`, `bench`."""

from __future__ import annotations

import sys
from pathlib import Path

from resnet_gui.cli.common import EXIT_OK, EXIT_PARTIAL, CliError, _emit_json


def cmd_gui(args) -> int:
    try:
        from resnet_gui.ui.app import run_app
    except ImportError as exc:  # the app is optional for headless use
        raise CliError(f"the desktop app cannot start: {exc}") from exc
    return run_app(data_dir=args.data_dir, checkpoint=args.checkpoint)


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
        tta=getattr(args, "tta", False),
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
