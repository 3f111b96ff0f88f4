"""Before Qt starts on Linux/X11: find missing xcb libraries, a missing display and a display nobody
answers on (`display_problem`), and say what to do.

Without this, a bare machine dies with Qt's "could not load the Qt platform plugin "xcb"". Here we name
the missing libraries, the Debian/Ubuntu packages and the `apt-get install` line; as root on
Debian/Ubuntu we install them ourselves and carry on. Everything is injectable so tests can fake it.
No Qt imports here: this runs before Qt is loaded.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# soname -> Debian/Ubuntu package. The first block is what Qt 6's xcb plugin needs beyond a base system.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


@dataclass
class PlatformReport:
    """What stands between us and a window."""

    missing: list[str] = field(default_factory=list)  # sonames
    no_display: bool = False

    @property
    def packages(self) -> list[str]:
        return sorted({XCB_LIBRARIES[m] for m in self.missing if m in XCB_LIBRARIES})

    @property
    def install_command(self) -> str:
        return "sudo apt-get install -y " + " ".join(self.packages) if self.packages else ""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.no_display

    def message(self) -> str:
        lines = []
        if self.missing:
            lines.append(
                "Qt cannot open a window: these system libraries are missing: "
                + ", ".join(self.missing)
                + "."
            )
            if self.packages:
                lines.append("On Debian/Ubuntu install them with:")
                lines.append("    " + self.install_command)
                lines.append(
                    "(other distributions: install the packages that provide these libraries, e.g. xcb-util-cursor)"
                )
        if self.no_display:
            lines.append(
                "No display: neither DISPLAY nor WAYLAND_DISPLAY is set, so there is no screen to show the window on. "
                "Run it from a desktop session, over `ssh -X`, or in a virtual display with `xvfb-run resnet-gui`."
            )
        return "\n".join(lines)


_LDCONFIG_CACHE: set[str] | None = None


def _ldconfig_sonames() -> set[str]:
    global _LDCONFIG_CACHE
    if _LDCONFIG_CACHE is None:
        names: set[str] = set()
        ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
        if ldconfig:
            try:
                out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
                names = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
            except (OSError, subprocess.SubprocessError):
                names = set()
        _LDCONFIG_CACHE = names
    return _LDCONFIG_CACHE


def system_has_library(soname: str) -> bool:
    """True if the dynamic linker can find `soname` (ldconfig cache, then ctypes.util.find_library)."""
    if soname in _ldconfig_sonames():
        return True
    stem = re.sub(r"^lib|\.so.*$", "", soname)
    found = ctypes.util.find_library(stem)
    return found is not None and (found == soname or found.startswith(soname.split(".so")[0] + ".so"))


def parse_ldd_missing(ldd_output: str) -> list[str]:
    """Sonames from `ldd` lines like "\tlibxcb-cursor.so.0 => not found"."""
    return [line.split()[0] for line in ldd_output.splitlines() if "=> not found" in line]


def _qt_xcb_plugin_missing() -> list[str] | None:
    """Sonames `ldd` reports as "not found" for Qt's xcb plugin; None when that cannot be asked."""
    ldd = shutil.which("ldd")
    if not ldd:
        return None
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")
        if spec is None or not spec.submodule_search_locations:
            return None
        qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
        targets = [
            qt / "plugins" / "platforms" / "libqxcb.so",
            *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1],
        ]
        targets = [t for t in targets if t.exists()]
        if not targets:
            return None
        missing: list[str] = []
        for t in targets:
            out = subprocess.run([ldd, str(t)], capture_output=True, text=True, timeout=20).stdout
            missing += parse_ldd_missing(out)
        return sorted(set(missing))
    except (OSError, subprocess.SubprocessError, StopIteration):
        return None


def check_platform(
    env: Mapping[str, str] | None = None,
    has_library: Callable[[str], bool] = system_has_library,
    plugin_missing: Callable[[], list[str] | None] | None = _qt_xcb_plugin_missing,
    system: str | None = None,
) -> PlatformReport:
    """What is missing for Qt's xcb plugin here (nothing off Linux, or when another platform is chosen)."""
    env = os.environ if env is None else env
    system = system or sys.platform
    platform = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if not system.startswith("linux") or platform not in ("", "xcb"):
        return PlatformReport()
    wayland_only = not env.get("DISPLAY") and bool(env.get("WAYLAND_DISPLAY")) and platform == ""
    if wayland_only:
        return PlatformReport()  # Qt picks its wayland plugin; xcb libraries do not matter
    report = PlatformReport(no_display=not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"))
    missing = plugin_missing() if plugin_missing is not None else None
    if missing is None:  # no ldd: check the known list one by one
        missing = [so for so in XCB_LIBRARIES if not has_library(so)]
    report.missing = missing
    return report


def can_self_install(is_root: bool | None = None, apt: str | None = None, debian: bool | None = None) -> bool:
    """Root on Debian/Ubuntu with apt-get: we may install the packages ourselves."""
    is_root = (hasattr(os, "geteuid") and os.geteuid() == 0) if is_root is None else is_root
    apt = shutil.which("apt-get") if apt is None else apt
    debian = Path("/etc/debian_version").exists() if debian is None else debian
    return bool(is_root and apt and debian)


def install_packages(
    packages: list[str], run: Callable[..., object] = subprocess.run, out=sys.stderr
) -> bool:
    """`apt-get update && apt-get install -y PACKAGES`, output passed through; True on success."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"resnet-gui: installing {' '.join(packages)} (running as root)…", file=out, flush=True)
    try:
        run(["apt-get", "update"], check=True, env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends", *packages], check=True, env=env)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"resnet-gui: installing failed: {exc}", file=out, flush=True)
        return False
    global _LDCONFIG_CACHE
    _LDCONFIG_CACHE = None
    return True


def ensure_qt_platform(
    env: Mapping[str, str] | None = None,
    out=sys.stderr,
    check: Callable[[], PlatformReport] | None = None,
    self_install: bool | None = None,
    install: Callable[[list[str]], bool] | None = None,
    check_display: bool = True,
) -> bool:
    """Check (and on root Debian/Ubuntu fix) what Qt needs for a window. False: explained on `out`, give up."""
    check = check or (lambda: check_platform(env))
    report = check()
    if report.ok:
        problem = display_problem(env) if check_display else None
        if problem:
            print("resnet-gui: " + problem, file=out, flush=True)
        return problem is None
    if report.missing and report.packages:
        allowed = can_self_install() if self_install is None else self_install
        if allowed:
            (install or (lambda p: install_packages(p, out=out)))(report.packages)
            report = check()
            if report.ok:
                return True
    print("resnet-gui: " + report.message(), file=out, flush=True)
    return False


# -- the display itself ------------------------------------------------------------------------------------


def _xcb_connects(display: str) -> bool | None:
    """Whether libxcb (what Qt's xcb plugin uses: socket, host and Xauthority alike) connects to
    `display`; None when libxcb cannot be loaded here."""
    import ctypes

    name = ctypes.util.find_library("xcb") or "libxcb.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.xcb_connect.restype = ctypes.c_void_p
    lib.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.xcb_connection_has_error.restype = ctypes.c_int
    lib.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    lib.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = lib.xcb_connect(display.encode(), None)
    try:
        return bool(conn) and lib.xcb_connection_has_error(conn) == 0
    finally:
        if conn:
            lib.xcb_disconnect(conn)


def _socket_connects(display: str, timeout: float = 3.0) -> bool:
    """Without libxcb: whether an X server listens where `display` ("[host]:N[.S]") points."""
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    try:
        if host in ("", "unix") or host.startswith("/"):
            path = host if host.startswith("/") else f"/tmp/.X11-unix/X{number}"
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                try:
                    s.connect(path)
                except OSError:
                    s.connect("\0" + f"/tmp/.X11-unix/X{number}")  # Linux's abstract socket
            return True
        with socket.create_connection((host, 6000 + int(number)), timeout=timeout):
            return True
    except OSError:
        return False


def display_problem(
    env: Mapping[str, str] | None = None,
    system: str | None = None,
    connects: Callable[[str], bool | None] | None = None,
) -> str | None:
    """One line saying what to do when Qt would use X11 and DISPLAY names a display nobody answers on
    (Qt itself aborts the process then, SIGABRT with a page about reinstalling); None when all is well
    or when another platform is chosen."""
    env = os.environ if env is None else env
    system = system or sys.platform
    platform = env.get("QT_QPA_PLATFORM", "").strip().lower()
    display = env.get("DISPLAY", "")
    if not system.startswith("linux") or platform not in ("", "xcb") or not display:
        return None
    if platform == "" and env.get("WAYLAND_DISPLAY"):
        return None  # Qt may use its wayland plugin
    if connects is None:
        ok = _xcb_connects(display)
        if ok is None:
            ok = _socket_connects(display)
    else:
        ok = connects(display)
    if ok:
        return None
    return (
        f"cannot connect to the X display {display!r} (DISPLAY): no X server answers there; start one "
        f"(e.g. `Xvfb {display} &`), set DISPLAY to a running one, or use `xvfb-run resnet-gui`"
    )
