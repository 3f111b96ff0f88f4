"""`predict_folder_to_csv_procs`: batch prediction into one CSV spread over N processes (`predict --nproc`).

One process per GPU on a CUDA machine (process K on cuda:K mod the device count); on the CPU each of the
N processes gets its share of the cores (intra-op threads and DataLoader workers).

Design, chosen for being easy to reason about after a kill at any moment:
1. The parent first merges the part files an earlier, interrupted run left (`<csv>.part-K`) into the CSV.
2. It splits the paths the CSV has no row for into N contiguous shards; process K runs the one-process
   `predict_folder_to_csv` on its shard into `<csv>.part-K`, the same durable journal (whole rows,
   fsync per batch). The processes share nothing but a stop event and a queue of progress messages.
3. When all have ended, the parent merges the parts in K order (a complete run's rows come out in the
   same order as with one process), then deletes each part.
Merging appends only rows whose path the CSV does not have yet, fsyncs the CSV, then deletes the part.
So a kill during a run leaves parts (merged by the next run: nothing predicted is lost), and a kill
during the merge leaves a CSV with whole rows (a torn last row is cut off next time) and a part whose
rows are partly in the CSV already (skipped next time): never a duplicate, never a lost row.
Two runs on the same CSV at the same time are not supported (nor with one process).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.infer.batch import (
    PROGRESS_PER_S,
    BatchProgress,
    BatchSummary,
    _key,
    _progress,
    open_results_csv,
    predict_folder_to_csv,
)
from resnet_gui.engine.infer.predict import CSV_HEADER, expand_inputs

log = logging.getLogger(__name__)

PART = ".part-"


def part_files(csv_path: str | Path) -> list[Path]:
    """The part files next to `csv_path` (`<name>.part-K`), in K order."""
    csv_path = Path(csv_path)
    found = []
    for p in csv_path.parent.glob(f"{csv_path.name}{PART}*"):
        k = p.name[len(csv_path.name) + len(PART) :]
        if k.isdigit() and p.is_file():
            found.append((int(k), p))
    return [p for _k, p in sorted(found)]


def merge_parts(csv_path: str | Path) -> int:
    """Append the rows of every part file that `csv_path` lacks, make them durable, delete the parts.
    Returns the rows added. Safe to interrupt and re-run (see the module docstring)."""
    csv_path = Path(csv_path)
    parts = part_files(csv_path)
    if not parts:
        return 0
    done = open_results_csv(csv_path)
    added = 0
    try:
        with open(csv_path, "ab") as out:
            for part in parts:
                open_results_csv(part)  # cuts a torn last row; refuses a file that is not ours
                buf = io.StringIO(newline="")
                w = csv.writer(buf)
                with open(part, newline="", encoding="utf-8", errors="replace") as fh:
                    rows = csv.reader(fh)
                    next(rows, None)  # the header
                    for row in rows:
                        if len(row) != len(CSV_HEADER) or _key(row[0]) in done:
                            continue
                        done.add(_key(row[0]))
                        w.writerow(row)
                        added += 1
                        if buf.tell() > 1 << 20:
                            out.write(buf.getvalue().encode("utf-8"))
                            buf.seek(0)
                            buf.truncate()
                out.write(buf.getvalue().encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
                part.unlink()
    except OSError as exc:
        raise EngineError(f"cannot merge the part files into {csv_path}: {exc.strerror or exc}") from exc
    return added


class _Stop:
    """The child's stop flag: the parent's event, or the parent gone (killed: stop after this batch).
    `parent_process()` watches the parent through a pipe, whatever the start method (a forkserver
    child's OS parent is the fork server, not the caller)."""

    def __init__(self, event):
        self.event = event
        self.parent = mp.parent_process()

    def is_set(self) -> bool:
        return self.event.is_set() or (self.parent is not None and not self.parent.is_alive())


def _child(k: int, nproc: int, job: dict, shard: list[str], stop, messages) -> None:
    """Process K: its shard into `<csv>.part-K`. Ctrl+C reaches the whole process group: the parent
    alone decides (through `stop`), so a child ignores SIGINT and finishes its batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import torch

        from resnet_gui.engine.device import device_plan, resolve_device
        from resnet_gui.engine.infer.predict import Predictor

        device = resolve_device(job["device"])
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", k % max(1, torch.cuda.device_count()))
        if device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
        workers = job["workers"]
        if workers is None:
            workers = device_plan(device, processes=nproc).loader_workers
        predictor = Predictor(
            job["checkpoint"], device=str(device), classes_file=job["classes_file"], warmup=False
        )
        summary = predict_folder_to_csv(
            predictor,
            shard,
            job["part"] + str(k),
            batch_size=job["batch_size"],
            workers=workers,
            topk=job["topk"],
            mp_context=job["loader_mp_context"],
            on_progress=lambda p: messages.put(("progress", k, p.done, p.errors)),
            stop=_Stop(stop),
        )
        messages.put(("done", k, summary.to_json()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        reason = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
        messages.put(("error", k, reason))


def _drain(messages, handle: Callable) -> None:
    while True:
        try:
            handle(messages.get(timeout=0.1))
        except queue_mod.Empty:
            return


def predict_folder_to_csv_procs(
    checkpoint: str | Path,
    paths: Iterable[str | Path],
    csv_path: str | Path,
    nproc: int,
    *,
    classes_file: str | Path | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    topk: int = 5,
    device: str = "auto",
    mp_context: str = "spawn",
    loader_mp_context: str | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> BatchSummary:
    """`predict_folder_to_csv` in `nproc` processes (module docstring); the same CSV, rows, resume.

    `workers`: DataLoader workers per process (None: each process's share of the device plan's).
    `mp_context`: how the processes start ("spawn": nothing of this process's threads or CUDA state is
    inherited); `loader_mp_context`: their DataLoaders' (as `mp_context` of predict_folder_to_csv).
    A process that fails does not stop the others: their rows are merged, then EngineError says which
    failed (a re-run does the rest).
    """
    if nproc < 1:
        raise EngineError("nproc must be at least 1")
    if batch_size < 1:
        raise EngineError("batch size must be at least 1")
    csv_path = Path(csv_path)
    t0 = time.perf_counter()
    recovered = merge_parts(csv_path)
    if recovered:
        log.info("%s: merged %d rows an interrupted run left in part files", csv_path, recovered)
    everything = [str(p) for p in expand_inputs(paths)]
    done = open_results_csv(csv_path)
    todo = [p for p in everything if _key(p) not in done]
    total, already = len(everything), len(everything) - len(todo)
    del everything, done
    n = max(1, min(nproc, len(todo)))
    shards = [todo[k * len(todo) // n : (k + 1) * len(todo) // n] for k in range(n)] if todo else []
    del todo
    job = {
        "checkpoint": str(checkpoint),
        "classes_file": None if classes_file is None else str(classes_file),
        "device": device,
        "workers": workers,
        "batch_size": batch_size,
        "topk": topk,
        "loader_mp_context": loader_mp_context,
        "part": str(csv_path) + PART,
    }
    ctx = mp.get_context(mp_context)
    stop_children = ctx.Event()
    if stop is not None and stop.is_set():  # set already: each process does one batch, as with one process
        stop_children.set()
    messages = ctx.Queue()
    procs = []
    for k, shard in enumerate(shards):
        proc = ctx.Process(
            target=_child, args=(k, n, job, shard, stop_children, messages), name=f"predict-{k}"
        )
        proc.start()
        procs.append(proc)
    del shards
    progress = [0] * len(procs)
    errs = [0] * len(procs)
    results: dict[int, dict] = {}
    failures: dict[int, str] = {}
    last_progress = 0.0

    def handle(msg) -> None:
        nonlocal last_progress
        kind, k = msg[0], msg[1]
        if kind == "progress":
            progress[k], errs[k] = msg[2], msg[3]
            now = time.perf_counter()
            if on_progress is not None and now - last_progress >= 1.0 / PROGRESS_PER_S:
                last_progress = now
                on_progress(_progress(already + sum(progress), total, sum(errs), sum(progress), now - t0))
        elif kind == "done":
            results[k] = msg[2]
        else:
            failures[k] = msg[2]

    try:
        while any(p.is_alive() for p in procs):
            if stop is not None and stop.is_set():
                stop_children.set()
            with contextlib.suppress(queue_mod.Empty):
                handle(messages.get(timeout=0.2))
        _drain(messages, handle)  # what the last ones said just before they ended
    finally:
        stop_children.set()  # the parent interrupted (an exception): the children stop after their batch
        for p in procs:
            while p.is_alive():  # draining: a child cannot end while its queued messages are unread
                p.join(timeout=0.2)
                _drain(messages, handle)
    for k, p in enumerate(procs):
        if k not in results and k not in failures:
            failures[k] = f"ended without a word (exit code {p.exitcode})"
    merge_parts(csv_path)
    wall = time.perf_counter() - t0
    written = sum(r["written"] for r in results.values())
    errors = sum(r["errors"] for r in results.values())
    if on_progress is not None:
        on_progress(_progress(already + written, total, errors, written, wall))
    if failures:
        by_reason: dict[str, list[str]] = {}
        for k, why in sorted(failures.items()):
            by_reason.setdefault(why, []).append(str(k))
        said = "; ".join(f"process {', '.join(ks)}: {why}" for why, ks in by_reason.items())
        raise EngineError(
            f"{len(failures)} of {len(procs)} prediction processes failed ({said}); the rows of the others "
            f"are in {csv_path}: run again to do the rest"
        )
    stopped = any(r["stopped"] for r in results.values())
    return BatchSummary.of(csv_path, total, written, already, errors, stopped, wall)
