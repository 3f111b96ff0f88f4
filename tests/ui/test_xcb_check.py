"""Detection of missing xcb libraries / display with a fake library lookup (no Qt, no system changes)."""

from __future__ import annotations

import io

from resnet_gui.ui import xcb_check
from resnet_gui.ui.xcb_check import PlatformReport, check_platform, ensure_qt_platform, install_packages

MISSING = {"libxcb-cursor.so.0", "libxkbcommon-x11.so.0"}


def fake_lookup(soname: str) -> bool:
    return soname not in MISSING


def test_missing_libraries_are_named_with_their_packages():
    report = check_platform({"DISPLAY": ":0"}, has_library=fake_lookup, plugin_missing=None, system="linux")
    assert set(report.missing) == MISSING
    assert report.packages == ["libxcb-cursor0", "libxkbcommon-x11-0"]
    assert report.install_command == "sudo apt-get install -y libxcb-cursor0 libxkbcommon-x11-0"
    text = report.message()
    assert "libxcb-cursor.so.0" in text and "apt-get install -y libxcb-cursor0 libxkbcommon-x11-0" in text
    assert not report.ok


def test_ldd_findings_are_used_when_available():
    report = check_platform(
        {"DISPLAY": ":0"},
        has_library=lambda s: False,
        plugin_missing=lambda: ["libxcb-icccm.so.4"],
        system="linux",
    )
    assert report.missing == ["libxcb-icccm.so.4"] and report.packages == ["libxcb-icccm4"]


def test_all_present_is_ok():
    assert check_platform(
        {"DISPLAY": ":0"}, has_library=lambda s: True, plugin_missing=None, system="linux"
    ).ok


def test_no_display_is_said_clearly():
    report = check_platform({}, has_library=lambda s: True, plugin_missing=None, system="linux")
    assert report.no_display and not report.ok
    assert "DISPLAY" in report.message() and "xvfb-run" in report.message()


def test_other_platforms_and_plugins_are_not_checked():
    never = lambda s: False  # noqa: E731
    assert check_platform(
        {"QT_QPA_PLATFORM": "offscreen"}, has_library=never, plugin_missing=None, system="linux"
    ).ok
    assert check_platform({}, has_library=never, plugin_missing=None, system="darwin").ok
    assert check_platform(
        {"WAYLAND_DISPLAY": "wayland-0"}, has_library=never, plugin_missing=None, system="linux"
    ).ok


def test_root_on_debian_installs_then_continues():
    reports = iter([PlatformReport(missing=sorted(MISSING)), PlatformReport()])
    installed = []
    ok = ensure_qt_platform(
        check=lambda: next(reports),
        self_install=True,
        install=lambda p: installed.append(p) or True,
        out=io.StringIO(),
    )
    assert ok and installed == [["libxcb-cursor0", "libxkbcommon-x11-0"]]


def test_without_root_it_explains_and_gives_up():
    out = io.StringIO()
    ok = ensure_qt_platform(
        check=lambda: PlatformReport(missing=sorted(MISSING)), self_install=False, out=out
    )
    assert not ok
    assert "sudo apt-get install -y libxcb-cursor0 libxkbcommon-x11-0" in out.getvalue()


def test_install_runs_apt_get_update_then_install():
    calls = []
    assert install_packages(["libxcb-cursor0"], run=lambda cmd, **kw: calls.append(cmd), out=io.StringIO())
    assert calls == [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "libxcb-cursor0"],
    ]


def test_self_install_needs_root_apt_and_debian():
    assert xcb_check.can_self_install(is_root=True, apt="/usr/bin/apt-get", debian=True)
    assert not xcb_check.can_self_install(is_root=False, apt="/usr/bin/apt-get", debian=True)
    assert not xcb_check.can_self_install(is_root=True, apt="", debian=True)


def test_ldd_output_is_parsed():
    out = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f13)\n"
        "\tlibxkbcommon-x11.so.0 => not found\n"
    )
    assert xcb_check.parse_ldd_missing(out) == ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"]
