"""Time and peak memory of the hostile inputs of issue 15, items 4-6, through the real CLI.

    python benchmarks/bench_hostile_inputs.py [--workdir DIR]

Each case runs `python -m resnet_gui ...` in a process of its own under `/usr/bin/time -v` (wall time, peak
RSS) and prints one row. A plain `predict` of a normal 32 px image is the baseline (torch's import and the
model alone). Not a test: the figures depend on the machine and its load (printed with them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(argv: list[str]) -> tuple[int, float, float, str]:
    """(exit code, wall s, peak RSS MB, last stderr line) of `python -m resnet_gui argv`."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "resnet_gui", *argv]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    err = p.stderr
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", err)
    h, m, s = (float(x) if x else 0.0 for x in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024
    ours = [ln for ln in err.splitlines() if ln.startswith(("error", "warning")) or ": error" in ln]
    return p.returncode, h * 3600 + m * 60 + s, rss, (ours[-1] if ours else p.stdout.strip()[-100:])


def _deflated_bomb(path: Path, declared_gb: float) -> None:
    """A torch zip whose tensor entry is `declared_gb` GB of zeros, deflated (a few MB on disk)."""
    import torch

    buf = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(4)}, buf)
    chunk = bytes(2**24)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.endswith("/data/0"):
                with dst.open(info.filename, "w", force_zip64=True) as f:
                    for _ in range(int(declared_gb * 2**30) // len(chunk)):
                        f.write(chunk)
            else:
                dst.writestr(info.filename, src.read(info))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--bomb-gb", type=float, default=10.0)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from resnet_gui.engine.data.demo import make_demo_dataset

    data = make_demo_dataset(work / "data", per_class=6, size=32, seed=0)
    subprocess.run(
        [sys.executable, "-m", "resnet_gui", "train", str(data), "--epochs", "1", "--img-size", "32",
         "--workers", "0", "--device", "cpu", "--out", str(work / "runs")],
        check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    best = next((work / "runs").glob("*/best.safetensors"))
    normal = next((data / "circle").glob("*.png"))
    line = work / "line.png"
    Image.new("RGB", (20000, 1), (200, 10, 10)).save(line)
    (data / "circle" / "line.png").write_bytes(line.read_bytes())
    bomb = work / "bomb.pth"
    _deflated_bomb(bomb, args.bomb_gb)

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(best), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = json.loads(f.metadata()["resnet_gui"])
    big = work / "img5000.safetensors"
    save_file(tensors, str(big), metadata={"resnet_gui": json.dumps({**meta, "img_size": 5000})})

    cases = [
        ("baseline: predict a 32 px image", ["predict", str(best), str(normal), "--device", "cpu"]),
        (f"4: predict a {line.stat().st_size}-byte 20000x1 PNG", ["predict", str(best), str(line), "--device", "cpu"]),
        ("4: train 1 epoch with it in a class folder", ["train", str(data), "--epochs", "1", "--img-size", "32",
         "--workers", "0", "--device", "cpu", "--out", str(work / "runs2")]),
        (f"5: predict with a {bomb.stat().st_size / 2**20:.1f} MB deflated .pth ({args.bomb_gb:g} GB declared)",
         ["predict", str(bomb), str(normal), "--device", "cpu"]),
        ("6: predict with img_size 5000 in the metadata", ["predict", str(big), str(normal), "--device", "cpu"]),
        ("6: eval with img_size 5000 in the metadata", ["eval", str(big), str(data), "--device", "cpu"]),
    ]  # fmt: skip
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average before: {' '.join(load)}; {os.cpu_count()} CPUs")
    print(f"{'case':62} {'exit':>4} {'wall s':>7} {'peak MB':>8}  message")
    for name, argv in cases:
        code, wall, rss, msg = _timed(argv)
        print(f"{name:62} {code:4d} {wall:7.2f} {rss:8.0f}  {msg[:110]}")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average after: {' '.join(load)}")


if __name__ == "__main__":
    main()
