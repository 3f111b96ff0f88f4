"""`doctor`, `relabel`, `remove`, `keep`, `undo`, `redo`: check a dataset and fix it, journaled."""

from __future__ import annotations

import os
import sys

from resnet_gui.cli.common import EXIT_OK, EXIT_PARTIAL, CliError, _emit_json


def add_doctor_commands(add) -> None:
    """Register the subcommands with the parser's `add(name, func, help)`."""
    sp = add(
        "doctor", cmd_doctor, "check DATA_DIR: leakage, duplicates, unreadable files, imbalance, label errors"
    )
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("--checkpoint", default=None, metavar="CKPT", help="use its embeddings for the checks")
    sp.add_argument("--val-split", type=float, default=None, metavar="F", help="as for train (default: 0.2)")
    sp.add_argument("--seed", type=int, default=0, metavar="S", help="as for train")
    sp.add_argument("--device", default="cpu", help="for --checkpoint (default: cpu)")
    sp.add_argument("--top", type=int, default=20, metavar="N", help="label issues listed without --json")
    sp.add_argument("--json", action="store_true")

    sp = add("relabel", cmd_relabel, "move images of DATA_DIR to class CLASS (journaled; undo with `undo`)")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--to", required=True, metavar="CLASS")
    sp.add_argument("--json", action="store_true")

    sp = add("remove", cmd_remove, "move images of DATA_DIR into DATA_DIR/.resnet-gui/trash (journaled)")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--json", action="store_true")

    sp = add("keep", cmd_keep, "mark images as reviewed: `doctor` does not suggest them again")
    sp.add_argument("data_dir", metavar="DATA_DIR")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.add_argument("--json", action="store_true")

    for name, func, what in (
        ("undo", cmd_undo, "undo the last changes"),
        ("redo", cmd_redo, "redo undone changes"),
    ):
        sp = add(name, func, f"{what} to DATA_DIR (relabel, remove, keep, images added from the app)")
        sp.add_argument("data_dir", metavar="DATA_DIR")
        sp.add_argument("--steps", type=int, default=1, metavar="N", help="default: 1")
        sp.add_argument("--json", action="store_true")


def cmd_doctor(args) -> int:
    from resnet_gui.engine.config import DEFAULTS
    from resnet_gui.engine.data.doctor.report import DoctorProgress, check_dataset

    if args.checkpoint and not os.path.isfile(args.checkpoint):
        raise CliError(f"checkpoint {args.checkpoint} does not exist")
    tty = sys.stderr.isatty()

    def progress(p: object) -> None:
        if isinstance(p, DoctorProgress) and (tty or p.done == p.total):
            end = "\n" if p.done == p.total else ""
            sys.stderr.write(
                f"\r{p.stage} {p.done}/{p.total}\033[K{end}" if tty else f"{p.stage} {p.done}/{p.total}\n"
            )
            sys.stderr.flush()

    report = check_dataset(
        args.data_dir,
        args.checkpoint,
        val_split=DEFAULTS.val_split if args.val_split is None else args.val_split,
        seed=args.seed,
        device=args.device,
        on_event=progress,
    )
    if args.json:
        _emit_json(report.to_json())
    else:
        _print_report(report, args.top)
    return EXIT_PARTIAL if report.unreadable else EXIT_OK


def _print_report(report, top: int) -> None:
    rel = lambda p: os.path.relpath(p, report.root)  # noqa: E731
    print(
        f"{report.root}: {report.usable} usable of {report.num_files} images, {len(report.classes)} classes"
    )
    for line in report.summary_lines():
        print(f"  - {line}")
    if report.leakage:
        print("\nleakage (train <-> val):")
        for d in report.leakage:
            print(f"  {d['kind']:5}  {rel(d['train'])}  <->  {rel(d['val'])}")
    if report.unreadable:
        print("\nunreadable:")
        for d in report.unreadable:
            print(f"  {rel(d['path'])}: {d['reason']}")
    if report.label_issues:
        print(f"\nsuspected label errors ({report.method}), most likely first:")
        for d in report.label_issues[:top]:
            print(f"  {d['score']:.3f}  {rel(d['path'])}  labelled {d['given']}, looks like {d['suggested']}")
        if len(report.label_issues) > top:
            print(f"  ... and {len(report.label_issues) - top} more (--top N, or --json)")
    for title, groups in (
        ("exact duplicates", report.duplicates),
        ("near-duplicates", report.near_duplicates),
    ):
        if groups:
            print(f"\n{title}:")
            for g in groups[:top]:
                print("  " + "  =  ".join(rel(p) for p in g))
    if report.imbalance.get("suggest_balance"):
        print(f"\nimbalance: {report.imbalance['advice']}")


def _change_json(change) -> dict:
    return {
        "id": change.id,
        "kind": change.kind,
        "moves": change.moves,
        "paths": change.paths,
        "to": change.to,
    }


def _done(args, changes: list, verb: str) -> int:
    if args.json:
        _emit_json({"changes": [_change_json(c) for c in changes]})
    for c in changes:
        print(f"{verb} #{c.id}: {c.describe()}", file=sys.stderr)
    return EXIT_OK


def _journal(args):
    from resnet_gui.engine.data.doctor.journal import Journal

    return Journal(args.data_dir)


def cmd_relabel(args) -> int:
    return _done(args, [_journal(args).relabel(args.paths, args.to)], "done")


def cmd_remove(args) -> int:
    return _done(args, [_journal(args).remove(args.paths)], "done")


def cmd_keep(args) -> int:
    return _done(args, [_journal(args).keep(args.paths)], "done")


def cmd_undo(args) -> int:
    return _step(args, "undo", "undone")


def cmd_redo(args) -> int:
    return _step(args, "redo", "redone")


def _step(args, direction: str, verb: str) -> int:
    """`undo` / `redo` the last `--steps` changes of the journal."""
    if args.steps < 1:
        raise CliError("--steps must be at least 1")
    changes = getattr(_journal(args), direction)(args.steps)
    if not changes and not args.json:
        print(f"nothing to {direction}", file=sys.stderr)
    return _done(args, changes, verb)
