"""The `resnet-gui` command line: the same engine as the app, headless.

Progress goes to stderr; with --json stdout holds exactly one JSON object. Errors are one line
`error: ...` on stderr (traceback only with --debug). Exit 0 = all good, 1 = some inputs failed (still
reported), 2 = usage or unusable input.
"""

from __future__ import annotations

import logging
import os
import sys

from resnet_gui.cli.common import EXIT_OK, EXIT_USAGE, SUBCOMMANDS, CliError, term_safe
from resnet_gui.cli.parser import build_parser


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
    if getattr(args, "install_desktop", False):
        from resnet_gui.desktop import install_desktop

        for path in install_desktop():
            print(f"wrote {path}", file=sys.stderr)
        return EXIT_OK
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
        print(f"error{where}: {term_safe(exc)}", file=sys.stderr)  # names may hold escape sequences
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
            f"error{where}: {type(exc).__name__}: {term_safe(exc)} (run with --debug for a traceback)",
            file=sys.stderr,
        )
        return EXIT_USAGE
