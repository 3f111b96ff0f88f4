"""The app's icon, and a Linux desktop entry (`resnet-gui --install-desktop`), torch- and Qt-free.

The entry follows the freedesktop.org specs: `$XDG_DATA_HOME/applications/resnet-gui.desktop` (default
~/.local/share/applications) and the icon in the hicolor theme, `$XDG_DATA_HOME/icons/hicolor/256x256/apps/
resnet-gui.png` plus the scalable SVG. `Exec` is this installation's `resnet-gui` script (or
`python -m resnet_gui` with this interpreter when there is none on PATH).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

APP_ID = "resnet-gui"
ASSETS = Path(__file__).resolve().parent / "assets"


def icon_path(kind: str = "png") -> Path:
    """The app icon shipped inside the package (assets/icon.png or icon.svg)."""
    return ASSETS / f"icon.{kind}"


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launch_command() -> str:
    """How a desktop launcher starts this installation of the app."""
    script = shutil.which(APP_ID)
    if script:
        return shlex.quote(str(Path(script).resolve()))
    return f"{shlex.quote(sys.executable)} -m resnet_gui"


def desktop_entry(exec_command: str) -> str:
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.0",
            "Name=ResNet GUI",
            "GenericName=Image Classifier",
            "Comment=Train ResNet image classifiers on your folders and classify images by dropping them",
            f"Exec={exec_command} gui %f",
            f"Icon={APP_ID}",
            "Terminal=false",
            "Categories=Graphics;Science;Education;",
            "Keywords=ResNet;PyTorch;classifier;deep learning;images;",
            f"StartupWMClass={APP_ID}",
            "",
        ]
    )


def install_desktop(data_home: str | Path | None = None, exec_command: str | None = None) -> list[Path]:
    """Write the desktop entry and the icons; returns the files written."""
    base = Path(data_home) if data_home else _data_home()
    entry = base / "applications" / f"{APP_ID}.desktop"
    png = base / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png"
    svg = base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    for path in (entry, png, svg):
        path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(icon_path("png"), png)
    shutil.copyfile(icon_path("svg"), svg)
    entry.write_text(desktop_entry(exec_command or launch_command()), encoding="utf-8")
    return [entry, png, svg]
