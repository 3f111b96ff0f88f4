"""How numbers, percentages and durations are written, for the app and the command line alike.

Torch-free and Qt-free: the CLI prints with these and the UI's labels show them, so a figure reads the
same wherever it appears. Each writer has one job; the few differences between the terminal and the
window (aligned columns, `00:42` in a progress line) are parameters, not second copies.
"""

from __future__ import annotations

import math

_SCALES = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def fmt_duration(seconds: float | None, unknown: str = "--", pad_minutes: bool = False) -> str:
    """0:42, 12:03, 1:02:03 (`pad_minutes`: 00:42); `unknown` when None, NaN, infinite or negative."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return unknown
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m:02d}:{s:02d}" if pad_minutes else f"{m}:{s:02d}"


def fmt_pct(x: float | None, unknown: str = "--", width: int = 0) -> str:
    """0.8875 -> 88.8%; `width` right-aligns the number (5: ` 88.8%`, for columns); `unknown` for None."""
    return unknown if x is None else f"{100.0 * x:{width}.1f}%"


def fmt_ms(x: float | None) -> str:
    """12.3 ms, 140 ms; '--' when unknown."""
    if x is None:
        return "--"
    return f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


def fmt_count(n: float) -> str:
    """11.7 M, 1.8 G, 940 k, 12: one decimal and a spaced unit (the Train form's model facts)."""
    for unit, scale in _SCALES[1:]:
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f}"


def human_number(n: float) -> str:
    """11689512 -> 11.7M, 1814073344 -> 1.81G, 0 -> '-': three significant digits (layer tables)."""
    if n == 0:
        return "-"
    for unit, scale in _SCALES:
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit.upper()}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def fmt_bytes(n: float | None) -> str:
    """Sizes on disk: 840 B, 12.3 kB, 171 MB, 2.4 GB (decimal units, as file managers show them)."""
    if n is None:
        return "--"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"
