"""Import rules the app relies on for a fast start."""

from __future__ import annotations

import subprocess
import sys


def test_scanning_a_dataset_does_not_import_torch():
    """The app shows dataset counts while torch (seconds to import) is still loading on another thread."""
    code = (
        "import sys\n"
        "from resnet_gui.engine import demo, scan\n"
        "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
