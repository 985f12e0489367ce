"""A paste is text: an ESC inside it neither scrambles it nor lets a newline enqueue,
and a job's command keeps every pasted line."""

from __future__ import annotations

import importlib

import pytest
from textual import events
from textual._xterm_parser import XTermParser

from queuectl.store.models import Job
from tests.tui.conftest import open_form, refreshed, wait_for, wait_toast
from tui.pasteguard import DRIVER_MODULES, InertPasteParser

HOSTILE = "ab\x1b[200~echo X\x1b[2J Y Z\recho SAFE\x1b\x1b[201~cd"
"""Typed ``ab``, a paste holding an ESC sequence, a carriage return (the terminal's
newline) and a lone ESC just before the end marker, then typed ``cd``."""


def _events(chunks: list[str]) -> list[events.Event]:
    parser = InertPasteParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_textuals_parser_turns_an_esc_in_a_paste_into_keys_ahead_of_it() -> None:
    """What the guard is for: if a Textual release fixes this, the guard can go."""
    parsed = list(XTermParser().feed(HOSTILE))
    pasted = [event.text for event in parsed if isinstance(event, events.Paste)]
    assert pasted == ["echo X"]
    assert "enter" in [event.key for event in parsed if isinstance(event, events.Key)]


def test_a_paste_is_one_paste_event_however_the_input_is_split() -> None:
    for first in range(1, len(HOSTILE)):
        for second in range(first + 1, len(HOSTILE)):
            chunks = [HOSTILE[:first], HOSTILE[first:second], HOSTILE[second:]]
            parsed = _events(chunks)
            kinds = [
                event.key if isinstance(event, events.Key) else event.text
                for event in parsed
                if isinstance(event, (events.Key, events.Paste))
            ]
            assert kinds == ["a", "b", "echo X[2J Y Z\recho SAFE", "c", "d"], chunks


def test_keys_outside_a_paste_are_read_as_before() -> None:
    keys = [event.key for event in _events(["\x1b[A", "x\x1b[B"]) if isinstance(event, events.Key)]
    assert keys == ["up", "x", "down"]


@pytest.mark.parametrize("module", DRIVER_MODULES)
def test_the_dashboard_makes_textuals_drivers_build_the_guarded_parser(app_for, module) -> None:
    app_for()
    assert importlib.import_module(module).XTermParser is InertPasteParser


async def test_a_hostile_paste_in_the_form_is_text_and_enqueues_nothing(app_for) -> None:
    """tmux 3.3a's ``paste-buffer -p`` sends an ESC as it is: the text after it was
    typed before the text ahead of it, and the newline after it enqueued the job."""
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        form = await open_form(pilot)
        for event in _events([HOSTILE[2:-2]]):  # only the paste
            app.post_message(event)
        box = form.query_one("#f-command")
        await wait_for(pilot, lambda: box.value != "", "the paste")
        await pilot.pause()
        assert box.value == "echo X[2J Y Z\necho SAFE"
        assert app.screen is form and Job.select().count() == 0
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Enqueued job")
        assert [job.command for job in Job.select()] == ["echo X[2J Y Z\necho SAFE"]


async def test_a_pasted_command_keeps_its_lines_and_a_number_its_first(app_for) -> None:
    """``cd /srv`` + ``make deploy`` pasted as the command queued ``cd /srv`` alone."""
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        form = await open_form(pilot)
        app.post_message(events.Paste("cd /srv\r\nmake deploy"))
        await wait_for(pilot, lambda: form.query_one("#f-command").value != "", "the paste")
        await pilot.press("tab")
        app.post_message(events.Paste("7\n8"))
        await wait_for(pilot, lambda: form.query_one("#f-priority").value != "", "the paste")
        await pilot.pause()
        assert form.query_one("#f-command").value == "cd /srv\nmake deploy"
        assert form.query_one("#f-priority").value == "7"  # one line: Textual's own rule
        await pilot.press("ctrl+s")
        await wait_toast(pilot, "Enqueued job")
        job = Job.get()
        assert (job.command, job.priority) == ("cd /srv\nmake deploy", 7)
