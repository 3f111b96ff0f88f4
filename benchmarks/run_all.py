"""`make bench`: every benchmark, one after another. Each prints its own figures and ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ["engine_speed.py"],
    ["recipe_compare.py", "--epochs", "5", "--per-class", "150", "--img-size", "64"],
    ["recipe_compare.py", "--epochs", "5", "--per-class", "150", "--img-size", "64", "--finetune"],
]


def main() -> int:
    failed = 0
    for argv in BENCHES:
        print(f"\n=== {' '.join(argv)} ===", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]]) != 0
    gui = HERE / "gui_speed.py"
    if gui.exists():
        print("\n=== gui_speed.py ===", flush=True)
        failed += subprocess.call([sys.executable, str(gui)]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
