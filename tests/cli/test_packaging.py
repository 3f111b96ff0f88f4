"""Packaging: the wheel holds everything `resnet-gui` needs (no make, no source tree), and
`resnet-gui --install-desktop` writes a desktop entry and the icon (resnet_gui/desktop.py)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from resnet_gui.cli import main
from resnet_gui.desktop import icon_path

ROOT = Path(__file__).resolve().parents[2]


def test_the_icon_ships_inside_the_package():
    assert icon_path("png").is_file() and icon_path("svg").is_file()
    assert icon_path("png").parent == ROOT / "resnet_gui" / "assets"
    assert Image.open(icon_path("png")).size == (256, 256)


def test_install_desktop_writes_the_entry_and_icons(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["--install-desktop"]) == 0
    entry = tmp_path / "applications" / "resnet-gui.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(entry)
    section = parser["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "ResNet GUI"
    assert section["Icon"] == "resnet-gui" and section["Terminal"] == "false"
    assert "resnet" in section["Exec"] and section["Exec"].endswith(" gui %f")
    png = tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "resnet-gui.png"
    assert png.read_bytes() == icon_path("png").read_bytes()
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "resnet-gui.svg").is_file()
    assert str(entry) in capsys.readouterr().err


@pytest.mark.slow
def test_wheel_builds_offline_and_installs_a_working_command(tmp_path):
    """`pip wheel . --no-deps --no-build-isolation` on a copy of the source, then installed (no deps) into
    a folder of its own: the `resnet-gui` script runs from there, with the icon beside the code."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "resnet_gui", src / "resnet_gui", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # no network
    subprocess.run(
        [*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist")],
        cwd=src,
        env=env,
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = (tmp_path / "dist").glob("resnet_gui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"resnet_gui/assets/icon.png", "resnet_gui/assets/icon.svg", "resnet_gui/ui/runs/view.py"} <= names
    assert "resnet_gui/engine/train/lr_find.py" in names and "resnet_gui/engine/infer/quantize.py" in names
    meta = next(n for n in names if n.endswith("entry_points.txt"))
    assert "resnet-gui = resnet_gui.cli:main" in zipfile.ZipFile(wheel).read(meta).decode()

    target = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        env=env,
        check=True,
        capture_output=True,
        timeout=240,
    )
    run_env = {**env, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [str(target / "bin" / "resnet-gui"), "--version"],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.startswith("resnet-gui ")
    probe = "import resnet_gui, resnet_gui.desktop as d; print(resnet_gui.__file__); print(d.icon_path().is_file())"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=run_env, capture_output=True, text=True
    )
    where, has_icon = out.stdout.split()
    assert Path(where).is_relative_to(target) and has_icon == "True"
