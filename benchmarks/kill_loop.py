"""kill -9 the real `python -m resnet_gui train` at seeded random moments, resuming each time, and check
that every checkpoint on disk still loads (the long version of tests/engine/test_faults.py's loop).

    python benchmarks/kill_loop.py [--kills 20] [--seed 1] [--data DIR]

Prints one line per kill and a summary; exit 1 if any invariant broke.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _check(out: Path, best_before: set[Path]) -> list[str]:
    from resnet_gui.engine.errors import CheckpointError
    from resnet_gui.engine.model.checkpoint import load_checkpoint, load_training_state, training_state_path

    problems = []
    for run_dir in sorted(p for p in out.glob("*") if p.is_dir()):
        best, last = run_dir / "best.safetensors", run_dir / "last.safetensors"
        if best in best_before and not best.exists():
            problems.append(f"{best} disappeared")
        for path in (best, last):
            if path.exists():
                try:
                    _, meta = load_checkpoint(path)
                except CheckpointError as exc:
                    problems.append(f"{path} does not load: {exc}")
                    continue
                if path == last:
                    state = load_training_state(training_state_path(last))
                    if state["epoch"] != meta.metrics["epoch"]:
                        problems.append(
                            f"{last}: state epoch {state['epoch']} != model epoch {meta.metrics['epoch']}"
                        )
    return problems


def _command(data: Path, out: Path, epochs: int, resume: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "resnet_gui", "train", str(data), "--epochs", str(epochs)]
    cmd += ["--img-size", "32", "--batch-size", "8", "--workers", "0", "--out", str(out)]
    return cmd + (["--resume", str(resume)] if resume else [])


def _wait_for_training(proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    """True once the command reports that training started (its stderr says 'training ...')."""
    started = threading.Event()

    def read():
        for line in proc.stderr:
            if "training " in line or "epoch " in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    return started.wait(timeout)


def run_kill_loop(data: Path, out: Path, kills: int = 20, seed: int = 1, max_delay: float = 4.0) -> dict:
    rng = random.Random(seed)
    report: dict = {"kills": 0, "violations": [], "temps_seen": 0, "resumed": 0}
    for i in range(kills):
        run_dirs = sorted(p for p in out.glob("*") if p.is_dir())
        best_before = {d / "best.safetensors" for d in run_dirs if (d / "best.safetensors").exists()}
        last = next((d / "last.safetensors" for d in run_dirs if (d / "last.safetensors").exists()), None)
        proc = subprocess.Popen(
            _command(data, out, 1000, last), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        _wait_for_training(proc)
        if i == 0:  # the first kill comes after epoch 1 is saved, so every later run resumes
            deadline = time.monotonic() + 300
            while not list(out.glob("*/last.safetensors")) and time.monotonic() < deadline:
                time.sleep(0.01)
        delay = rng.uniform(0.0, max_delay)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        temps = sorted(out.rglob("*.tmp"))
        problems = _check(out, best_before)
        report["kills"] += 1
        report["resumed"] += last is not None
        report["temps_seen"] += len(temps)
        report["violations"] += problems
        print(
            f"kill {i + 1}/{kills} after {delay:.2f}s: {len(temps)} temp file(s), {len(problems)} problem(s)"
        )
    last = next(
        (d / "last.safetensors" for d in sorted(out.glob("*")) if (d / "last.safetensors").exists()), None
    )
    epochs = 1
    if last is not None:
        from resnet_gui.engine.model.checkpoint import load_checkpoint

        epochs = int(load_checkpoint(last)[1].metrics["epoch"]) + 1
    final = subprocess.run(_command(data, out, epochs, last), capture_output=True, text=True)
    report["final_run_exit"] = final.returncode
    report["temps_after_final_run"] = len(list(out.rglob("*.tmp")))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="default: a tiny demo dataset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kill-loop-") as tmp:
        data = args.data
        if data is None:
            from resnet_gui.engine.data.demo import make_demo_dataset

            data = make_demo_dataset(Path(tmp) / "data", per_class=8, size=32, seed=0)
        t0 = time.perf_counter()
        report = run_kill_loop(data, Path(tmp) / "runs", kills=args.kills, seed=args.seed)
        report["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2))
    return 0 if not report["violations"] and report["temps_after_final_run"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
