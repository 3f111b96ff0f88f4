"""`resnet-gui train` (one process, or N ranks through the elastic launcher) and `demo-data`."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_gui.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STOPPED,
    CliError,
    TrainProgress,
    _emit_json,
    check_input_file,
)

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainConfig


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
    if value in ("none", "imagenet") or value.lower().startswith(("http://", "https://")):
        return value
    if not Path(value).is_file():
        raise CliError(f"--pretrained: {value} is not 'none', 'imagenet', a URL or an existing weights file")
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


#: TrainConfig fields whose option is named differently (`--out DIR` sets `out_dir`)
_OPTION_OF = {"out_dir": "out"}


def config_from_args(args) -> TrainConfig:
    """The TrainConfig the `train` options describe: each field from the option of the same name (the
    parser's defaults are TrainConfig's, engine/config.py); fields without an option keep their default."""
    from resnet_gui.engine.config import TrainConfig

    values = {}
    for f in dataclasses.fields(TrainConfig):
        option = _OPTION_OF.get(f.name, f.name)
        if hasattr(args, option):
            values[f.name] = getattr(args, option)
    values["pretrained"] = _parse_pretrained(values["pretrained"])
    if not values.get("out_dir"):  # no --out: TrainConfig's default, the runs folder shared with the app
        values.pop("out_dir", None)
    return TrainConfig(**values)


def cmd_train(args) -> int:
    from resnet_gui.engine.train.distributed import launched_rank
    from resnet_gui.engine.train.launch import resolve_nproc

    if args.resume:
        check_input_file(args.resume, "--resume:")
    try:
        nproc = resolve_nproc(args.nproc)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    rank, world = launched_rank()
    if world == 1 and not args.resume:  # fetched once, before any rank starts (they find it in the cache)
        from resnet_gui.cli.weights import fetch_pretrained

        fetch_pretrained(_parse_pretrained(args.pretrained), args.arch)
    if nproc > 1 and world == 1:
        return _train_ranks(args, nproc)

    from resnet_gui.engine.train.distributed import watch_parent
    from resnet_gui.engine.train.loop import train

    watch_parent()  # under a launcher: a killed launcher takes this rank with it
    config = config_from_args(args)
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl+C (or SIGTERM): stop cleanly after this batch; second: abort
        if stop.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        how = "Ctrl+C" if signum == signal.SIGINT else "the signal"
        print(f"\nstopping after this batch ({how} again to abort)...", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, on_sigint)
    previous_term = signal.getsignal(signal.SIGTERM)
    if world > 1:  # the launcher forwards Ctrl+C as SIGINT, and stops ranks with SIGTERM
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    else:  # `kill PID`, a job scheduler's time limit: stop as Ctrl+C does, keeping `last`
        signal.signal(signal.SIGTERM, on_sigint)
    try:
        result = train(config, on_event=TrainProgress() if rank == 0 else None, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    if rank > 0:  # rank 0 speaks for the run: its progress, its JSON, its exit status
        return EXIT_OK
    if args.json:
        _emit_json(result.to_json())
    if result.stopped:  # a script can tell a stopped run from a finished one (also `stopped: true`)
        return EXIT_STOPPED
    if result.skipped:  # like eval: the run is usable, but some inputs failed (each was reported above)
        print(f"{len(result.skipped)} file(s) could not be read and were skipped", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK
