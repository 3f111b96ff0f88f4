"""`resnet-gui lr-find DATA_DIR`: the learning-rate sweep (engine/train/lr_find.py), its suggestion, and
a coarse table of loss against learning rate (stderr), or the whole sweep as JSON."""

from __future__ import annotations

import sys
import threading

from resnet_gui.cli.common import EXIT_OK, _emit_json


def cmd_lr_find(args) -> int:
    from resnet_gui.cli.train import config_from_args
    from resnet_gui.engine.train.lr_find import LrFindStep, lr_find

    config = config_from_args(args)
    tty = sys.stderr.isatty()

    def progress(event: object) -> None:
        if isinstance(event, LrFindStep) and tty:
            sys.stderr.write(
                f"\r\033[Klr-find {event.step}/{event.steps}  lr {event.lr:.2e}  loss {event.smoothed:.3f}"
            )
            sys.stderr.flush()

    print(
        f"sweeping the learning rate {args.start_lr:g} .. {args.end_lr:g} on {args.data_dir}", file=sys.stderr
    )
    result = lr_find(
        config,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        num_steps=args.steps,
        on_event=progress,
        stop=threading.Event(),
    )
    if tty:
        sys.stderr.write("\r\033[K")
    if args.json:
        _emit_json(result.to_json())
        return EXIT_OK
    print("        lr   loss (smoothed)", file=sys.stderr)
    every = max(1, len(result.lrs) // 12)
    for lr, loss in list(zip(result.lrs, result.smoothed, strict=True))[::every]:
        print(f"  {lr:9.2e}   {loss:.4f}", file=sys.stderr)
    end = "diverged" if result.diverged else "done"
    print(
        f"{len(result.lrs)} steps ({end}) in {result.wall_s:.1f} s on {result.device_name}; "
        f"steepest {_g(result.steepest)}, minimum {_g(result.min_loss_lr)}, default {result.default_lr:g}",
        file=sys.stderr,
    )
    if result.suggestion is None:
        print("the sweep was too short for a suggestion (try more images or --steps)", file=sys.stderr)
    else:
        print(f"suggested learning rate ({result.rule}): {result.suggestion:.2e}", file=sys.stderr)
        print(f"{result.suggestion:.2e}")  # stdout: just the number, for scripts (`--lr $(...)`)
    return EXIT_OK


def _g(x: float | None) -> str:
    return "--" if x is None else f"{x:.2e}"
