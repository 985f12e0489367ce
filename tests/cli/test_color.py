"""``--color`` on ``logs`` and ``show``: SGR kept as colour, every other escape inert."""

from __future__ import annotations

import pytest

from queuectl.cli import common
from tests.cli.test_order_and_output import _record_run
from tests.test_cli import enqueue

COLOURED = "\x1b[1;31mERROR\x1b[0m disk \x1b]0;pwned\x07 \x1b[2J \x1b]52;c;aGk=\x07 \x9b31m end\n"


@pytest.fixture
def coloured_job(run, db_url) -> str:
    enqueue(run)
    return _record_run(db_url, COLOURED, len(COLOURED.encode()))


def _only_sgr_escapes(text: str) -> None:
    assert "\x07" not in text and "\x9b" not in text
    assert "␛]0;pwned␇" in text and "␛[2J" in text and "␛]52;c;aGk=␇" in text


def test_logs_color_always_keeps_sgr_and_nothing_else(run, coloured_job, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # an explicit --color always wins over it
    shown = run("logs", coloured_job, "--color", "always").stdout
    assert shown.startswith("\x1b[1;31mERROR\x1b[0m disk ")
    assert shown.endswith("end\n\x1b[0m")
    _only_sgr_escapes(shown)


def test_logs_color_never_and_piped_auto_are_inert(run, coloured_job):
    for args in (["--color", "never"], []):  # the test's stdout is not a terminal
        shown = run("logs", coloured_job, *args).stdout
        assert "\x1b" not in shown and shown.startswith("␛[1;31mERROR␛[0m")


def test_logs_color_auto_on_a_terminal_unless_no_color(run, coloured_job, monkeypatch):
    monkeypatch.setattr(common, "stdout_is_terminal", lambda: True)
    assert run("logs", coloured_job).stdout.startswith("\x1b[1;31mERROR")
    monkeypatch.setenv("NO_COLOR", "1")
    assert run("logs", coloured_job).stdout.startswith("␛[1;31mERROR")


def test_show_color_renders_styles_and_keeps_other_escapes_inert(run, coloured_job):
    shown = run("show", coloured_job, "--color", "always").stdout
    assert "\x1b[1;31mERROR" in shown
    _only_sgr_escapes(shown)
    plain = run("show", coloured_job, "--color", "never").stdout
    assert "\x1b" not in plain and "␛[1;31mERROR␛[0m disk" in plain


def test_bad_color_value_is_one_line_exit_2(run, coloured_job):
    result = run("logs", coloured_job, "--color", "rainbow", ok=False)
    assert result.exit_code == 2 and "rainbow" in result.stderr
