"""Counts read as a person writes them: no ``job(s)`` in any line or toast."""

from __future__ import annotations

import pathlib
import re

from queuectl.wording import counted, rate

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_counted_is_singular_only_for_one_and_separates_thousands():
    assert counted(1, "job") == "1 job"
    assert counted(0, "job") == "0 jobs"
    assert counted(1250, "dead job") == "1,250 dead jobs"
    assert counted(2, "dependency", "dependencies") == "2 dependencies"


def test_no_message_says_a_count_with_a_parenthesised_plural():
    """``2 dead job(s) purged`` read as a form letter; each count now picks its noun."""
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("queuectl", "tui")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"[a-z]\(s\)", line)
        and not line.lstrip().startswith("#")
        and "wording" not in path.name
    ]
    assert found == []


def test_a_rate_keeps_tenths_while_small_and_separates_thousands():
    """The header said ``2110.0 jobs/min`` where ``2,110`` reads at a glance."""
    assert [rate(value) for value in (0, 0.42, 12.46, 99.94, 100, 2110.04)] == [
        "0.0",
        "0.4",
        "12.5",
        "99.9",
        "100",
        "2,110",
    ]


def test_a_figure_is_separated_as_counted_writes_it():
    from queuectl.wording import figure

    assert [figure(n) for n in (0, 999, 1000, 12345)] == ["0", "999", "1,000", "12,345"]
