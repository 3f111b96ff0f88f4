"""Shared by the benchmarks: goals with a verdict, tables, `<results dir>/<name>.json`.

Results go to `benchmarks/results/local/` (untracked: a local run never dirties the tree), or to the
folder in $RESNET_GUI_BENCH_OUT (`run_all.py --out DIR` sets it). The committed reference figures live in
`benchmarks/results/reference/`; refresh them on a quiet machine with
`python benchmarks/run_all.py --out benchmarks/results/reference`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parent / "results" / "reference"
OUT_ENV = "RESNET_GUI_BENCH_OUT"


def results_dir() -> Path:
    """Where this run's `<name>.json` files go (see the module docstring)."""
    given = os.environ.get(OUT_ENV)
    return (
        Path(given).expanduser().resolve() if given else Path(__file__).resolve().parent / "results" / "local"
    )


if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Ratio:
    """One measured ratio against its goal: `value <= goal` (at_most) or `value >= goal`."""

    name: str
    value: float | None
    goal: float
    at_most: bool = True
    what: str = ""  # how the ratio is formed, e.g. "limit img/s / our img/s"

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.goal if self.at_most else self.value >= self.goal

    def line(self) -> str:
        sign = "<=" if self.at_most else ">="
        verdict = {True: "met", False: "NOT met", None: "not measured"}[self.met]
        shown = "n/a" if self.value is None else f"{self.value:.3g}"
        what = f"   [{self.what}]" if self.what else ""
        return f"{self.name}: {shown} (goal {sign} {self.goal:g}): {verdict}{what}"


@dataclass
class Report:
    """A benchmark's figures and ratios; `finish()` prints the ratios and writes the JSON file."""

    name: str
    ratios: list[Ratio] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)
    load_at_start: float | None = field(default_factory=lambda: load_1min())

    def ratio(self, *args, **kwargs) -> Ratio:
        r = Ratio(*args, **kwargs)
        self.ratios.append(r)
        return r

    def finish(self) -> dict:
        wall = time.perf_counter() - self.t0
        for r in self.ratios:
            print(r.line(), flush=True)
        m = machine()
        m["load_1min_at_start"] = self.load_at_start
        busy = busy_note(m)
        if busy:
            print(busy, flush=True)
        out = {
            "name": self.name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": m,
            "busy_note": busy,
            "bench_wall_s": round(wall, 1),
            "ratios": [{**asdict(r), "met": r.met} for r in self.ratios],
            "figures": self.figures,
        }
        folder = results_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        path.write_text(json.dumps(out, indent=2, default=str) + "\n")
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"({wall:.0f} s; wrote {shown})", flush=True)
        return out


def load_1min() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def busy_note(m: dict) -> str:
    """A warning when other work loaded the machine: more runnable threads than cores (our own benchmark
    counts for about one core's worth), so the ratios may say more about the neighbours than about us."""
    loads = [v for v in (m.get("load_1min_at_start"), m.get("load_1min")) if v is not None]
    cpus = m.get("cpus") or 1
    if loads and max(loads) > cpus + 1:
        return (
            f"WARNING: the machine was busy (1-min load up to {max(loads):.1f} on {cpus} cores): "
            "these ratios are not reliable; re-run on a quiet machine"
        )
    return ""


def machine() -> dict:
    """What the figures were measured on, and how busy it was (1-minute load average)."""
    info: dict = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    info["load_1min"] = load_1min()
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(rows: list[tuple], header: tuple) -> None:
    """Print rows as an aligned text table."""
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), flush=True)
        if k == 0:
            print("  ".join("-" * w for w in widths), flush=True)


def scratch_dir() -> str | None:
    """Where benchmarks put their generated data and checkpoints: RAM (/dev/shm) when it has room, so a
    nearly full disk neither fails a run nor slows it; else the system temp folder (None)."""
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize > 4 * 2**30:
            return str(shm)
    except OSError:
        pass
    return None
