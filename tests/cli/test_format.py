"""resnet_gui/format.py: one way to write a duration, a percentage and a count, for the CLI and the app."""

from __future__ import annotations

import math

import pytest

from resnet_gui.cli.common import _fmt_s, _pct
from resnet_gui.format import fmt_count, fmt_duration, fmt_ms, fmt_pct, human_number


def test_durations_in_the_app_and_in_progress_lines():
    assert [fmt_duration(s) for s in (0, 42.4, 723, 3723)] == ["0:00", "0:42", "12:03", "1:02:03"]
    assert [fmt_duration(s) for s in (None, math.nan, math.inf, -1.0)] == ["--"] * 4
    assert [_fmt_s(s) for s in (42, 723, 3723)] == ["00:42", "12:03", "1:02:03"]
    assert _fmt_s(None) == _fmt_s(math.nan) == _fmt_s(math.inf) == "--:--"


def test_percentages_counts_and_milliseconds():
    assert fmt_pct(0.8875) == "88.8%" and fmt_pct(1.0) == "100.0%" and fmt_pct(None) == "--"
    assert _pct(0.5) == " 50.0%" and _pct(None) == "  n/a"
    assert [fmt_count(n) for n in (12, 940_000, 11_689_512, 1.8e9)] == ["12", "940.0 k", "11.7 M", "1.8 G"]
    assert fmt_ms(12.34) == "12.3 ms" and fmt_ms(140.2) == "140 ms" and fmt_ms(None) == "--"


@pytest.mark.parametrize("n", [0, 7, 999, 1000, 11_689_512, 1_814_073_344, 2.5e12, 0.5, 1536.0])
def test_human_number_is_the_layer_tables(n):
    from resnet_gui.engine.model.describe import human_number as engine_human_number

    assert human_number(n) == engine_human_number(n)
