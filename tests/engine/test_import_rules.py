"""Import rules: the engine and CLI never load Qt (DESIGN.md section 1); scanning never loads torch; no cycles."""

from __future__ import annotations

import ast
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
    assert loaded_after("import resnet_gui.engine.data.transforms", ("torch", "torchvision")) == [
        "torch",
        "torchvision",
    ]


def _import_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not those inside functions)."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def test_resnet_gui_has_no_import_cycle():
    """No module of resnet_gui imports, at import time, a module that imports it back (directly or not)."""
    root = Path(__file__).resolve().parents[2]
    files = {}
    for src in root.joinpath("resnet_gui").rglob("*.py"):
        parts = src.relative_to(root).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = src
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, src in files.items():
        for node in _import_time_imports(ast.parse(src.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif node.level == 0 and node.module:
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                    for a in node.names
                ]
            else:
                targets = []
            graph[name] |= {t for t in targets if t in files and t != name}

    def cycle_from(start: str) -> list[str] | None:
        path, seen = [start], set()
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                seen.add(path.pop())
            elif nxt == start:
                return [*path, start]
            elif nxt not in seen and nxt not in path:
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
        return None

    cycles = [c for c in map(cycle_from, sorted(graph)) if c]
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
