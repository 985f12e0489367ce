"""How durations read in tables: each figure rounds once, so a unit's edge never shows
a value that belongs to the next unit (``1000ms``, ``60s``)."""

from __future__ import annotations

import pytest

from queuectl.errors import ValidationError
from queuectl.timeutil import human_duration, parse_time, set_duration, timeout_text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0, "0ms"),
        (0.0004, "<1ms"),  # a timeout this short is not "0ms", which reads as none
        (0.0005, "<1ms"),
        (1e-9, "<1ms"),
        (0.0006, "1ms"),
        (0.85, "850ms"),
        (0.9994, "999ms"),
        (0.9996, "1.0s"),
        (1.04, "1.0s"),
        (9.94, "9.9s"),
        (9.96, "10s"),
        (12.4, "12s"),
        (59.4, "59s"),
        (59.6, "1m00s"),
        (245, "4m05s"),
        (3599.6, "1h00m"),
        (3 * 3600 + 600, "3h10m"),
        (2 * 86400 + 4 * 3600, "2d4h"),
        (-3, "0ms"),
    ],
)
def test_a_duration_rounds_once_and_never_shows_the_next_units_edge(seconds, shown):
    assert human_duration(seconds) == shown


@pytest.mark.parametrize(
    ("timeout", "shown"),
    [(None, "config default"), (0, "none"), (0.0004, "0.0004s"), (1, "1s"), (90, "1m30s")],
)
def test_a_jobs_timeout_reads_the_same_in_show_and_the_dashboard(timeout, shown):
    """The dashboard's detail said "0ms" for a job with no timeout (0), and both said
    "0ms" for one of 0.4 ms, which then killed every attempt."""
    assert timeout_text(timeout) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1, "1s"), (1.5, "1.5s"), (0.2, "0.2s"), (12, "12s"), (59.5, "59.5s"), (90, "1m30s")],
)
def test_a_length_someone_set_reads_as_they_typed_it(seconds, shown):
    """``wait --timeout 1s`` ended "timed out after 1.0s", and a job set to time out
    after 1 s showed "timeout 1.0s": the table's fixed precision read as a changed value."""
    assert set_duration(seconds) == shown


def test_eight_digits_that_are_no_date_say_how_to_give_epoch_seconds():
    """``--run-at 99999999`` said run_at "must be ISO 8601 … or epoch seconds", and it was
    epoch seconds: eight digits are read as a date first (a script author's try)."""
    with pytest.raises(
        ValidationError, match=r"eight digits is a date, YYYYMMDD.*'99999999'.*99999999\.0"
    ):
        parse_time("99999999")
    assert parse_time("99999999.0") == 99999999.0
    assert parse_time(99999999) == 99999999.0
    assert parse_time("20261205") == parse_time("2026-12-05T00:00:00Z")
