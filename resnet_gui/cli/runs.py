"""`resnet-gui runs`: the runs in the runs folder the app shares (name, date, data, arch, accuracy, size)."""

from __future__ import annotations

import sys
from pathlib import Path

from resnet_gui.cli.common import EXIT_OK, CliError, _emit_json
from resnet_gui.format import fmt_bytes, fmt_pct


def cmd_runs(args) -> int:
    from resnet_gui.engine.config import default_runs_dir
    from resnet_gui.engine.runs import disk_usage, list_runs, run_summary

    root = Path(args.dir) if args.dir else default_runs_dir()
    if args.dir and not root.is_dir():
        raise CliError(f"{root} is not a folder")
    rows = [run_summary(r) for r in list_runs(root, include_empty=True)]
    usage = disk_usage(root) if root.is_dir() else {"runs": 0, "trash": 0}
    if args.json:
        _emit_json({"runs_dir": str(root), "runs": rows, "disk": usage})
        return EXIT_OK
    print(f"runs in {root}", file=sys.stderr)
    if not rows:
        print("  (none yet: `resnet-gui train DATA_DIR` writes one here)", file=sys.stderr)
    else:
        print(f"{'name':<36} {'date':<16} {'dataset':<14} {'arch':<9} {'best':>6} {'size':>8}  status")
        for r in rows:
            date = (r["started"] or "")[:16].replace("T", " ")
            print(
                f"{r['name'][:36]:<36} {date:<16} {r['dataset'][:14]:<14} {r['arch']:<9} "
                f"{fmt_pct(r['best_val_acc'], unknown='--', width=5):>6} {fmt_bytes(r['size_bytes']):>8}  "
                f"{r['status']}"
            )
    trash = f", {fmt_bytes(usage['trash'])} in the trash" if usage["trash"] else ""
    print(f"{len(rows)} run(s), {fmt_bytes(usage['runs'])} on disk{trash}", file=sys.stderr)
    return EXIT_OK
