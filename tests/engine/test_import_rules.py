"""Import rules: the engine and CLI never load Qt (DESIGN.md section 1); scanning never loads torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def loaded_after(imports: str, roots: tuple[str, ...]) -> list[str]:
    """Top-level packages from `roots` that a fresh interpreter has loaded after running `imports`."""
    code = (
        f"import json, sys\n{imports}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(roots)!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_engine_and_cli_never_import_qt():
    imports = (
        "import pkgutil, importlib, resnet_gui.engine as e, resnet_gui.cli\n"
        "for m in pkgutil.walk_packages(e.__path__, 'resnet_gui.engine.'): importlib.import_module(m.name)"
    )
    assert loaded_after(imports, ("PySide6", "pyqtgraph", "shiboken6")) == []
    for src in Path(__file__).resolve().parents[2].joinpath("resnet_gui", "engine").rglob("*.py"):
        text = src.read_text()
        assert "PySide6" not in text and "pyqtgraph" not in text, src


def test_scanning_a_dataset_does_not_import_torch():
    """The app shows dataset counts while torch (seconds to import) is still loading on another thread."""
    assert loaded_after("from resnet_gui.engine.data import demo, scan", ("torch", "torchvision")) == []
    # and the check itself can see torch when it is there
    assert loaded_after("import resnet_gui.engine.data.dataset", ("torch", "torchvision")) == [
        "torch",
        "torchvision",
    ]
