"""Values drawn in the longest form that fits (the detail screen's times)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from tests.conftest import T0
from tui.fit import FirstThatFits
from tui.screens.detail import time_forms


def _drawn(renderable: object, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text().rstrip("\n")


def test_the_longest_form_that_fits_is_drawn_and_only_the_last_is_cut() -> None:
    fits = FirstThatFits(
        Text("2026-12-05T03:58:23Z (13s ago)"), Text("03:58:23Z (13s ago)"), Text("13s ago")
    )
    assert _drawn(fits, 40) == "2026-12-05T03:58:23Z (13s ago)"
    assert _drawn(fits, 29) == "03:58:23Z (13s ago)"
    assert _drawn(fits, 10) == "13s ago"
    assert _drawn(fits, 5) == "13s …"


def test_it_needs_a_form() -> None:
    with pytest.raises(ValueError):
        FirstThatFits()


def test_a_time_today_drops_its_date_and_an_older_one_its_seconds() -> None:
    today = time_forms(T0 - 62, T0)
    assert today[0].endswith("(1m02s ago)") and today[0][:4].isdigit()
    assert today[1] == f"{today[0][11:20]} (1m02s ago)"
    assert today[2] == "1m02s ago"
    older = time_forms(T0 - 3 * 86_400, T0)
    assert older[1] == f"{older[0][5:16]}Z (3d0h ago)"
    assert time_forms(T0 + 300, T0)[2] == "5m00s from now"
