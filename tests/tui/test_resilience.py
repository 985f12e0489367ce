"""A day of use: nothing grows per action, no key burst crashes, no stored time crashes."""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.widgets import Footer, Input, Static, TabbedContent

from queuectl.store.models import Job
from tests.conftest import T0
from tests.tui.conftest import (
    detail_loaded,
    refreshed,
    seed_job,
    seed_run,
    seed_worker,
    wait_for,
    wait_toast,
)
from tui.app import QueueApp
from tui.panes.jobs import JobsPane
from tui.screens.detail import JobDetailScreen
from tui.screens.new_job import NewJobScreen


def watcher_count(app: App[Any]) -> int:
    """Entries in every node's reactive watcher lists (Textual keeps them in ``__watchers``)."""
    nodes: list[DOMNode] = [app]
    for screen in app.screen_stack:
        nodes.extend(screen.walk_children(with_self=True))
    return sum(
        len(callbacks) for node in nodes for callbacks in getattr(node, "__watchers", {}).values()
    )


def node_count(app: App[Any]) -> int:
    return sum(1 for _ in app.screen_stack[0].walk_children(with_self=True))


# Every pane, then every dialog and screen, each closed again: what a person does all day.
CYCLE = [
    ("2",),
    ("3",),
    ("4",),
    ("1",),
    ("question_mark", "escape"),
    ("enter", "escape"),
    ("n", "escape"),
    ("c", "n"),
    ("d", "escape"),
    ("slash", "escape"),
    ("o", "O", "o"),
    ("2", "p", "n", "R", "escape"),
    ("3", "s", "escape", "x", "n", "X", "n", "K", "escape"),
    ("4", "enter", "escape", "1"),
]


async def _cycle(pilot: Any) -> None:
    for keys in CYCLE:
        await pilot.press(*keys)
        await pilot.pause()


async def test_a_cycle_of_every_pane_and_dialog_leaves_the_watchers_unchanged(
    app_for, supervisor
) -> None:
    seed_job("a", state="dead", attempts=4)
    seed_job("b", state="processing", worker_id="w-a", started_at=T0 - 5)
    seed_worker("w-a", state="busy", current_job="b")
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        await _cycle(pilot)  # the first cycle builds what lives for the session
        await refreshed(pilot)
        before = (watcher_count(app), node_count(app))
        await _cycle(pilot)
        await refreshed(pilot)
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, "every dialog closed")
        assert (watcher_count(app), node_count(app)) == before
        assert len(app.toasts) <= app.toasts.maxlen


class _FooterApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "bell", "A"), Binding("b", "bell", "B")]

    def compose(self) -> ComposeResult:
        yield Static("x")
        yield Footer()


async def test_textual_footer_still_leaks_a_watcher_per_key_per_rebuild() -> None:
    """Why the dashboard draws its own key bar (``tui.keybar``), see Textualize/textual#6666.

    When this fails, Textual prunes the watchers of removed footer keys itself and
    ``Footer`` could come back.
    """
    app = _FooterApp()
    async with app.run_test() as pilot:
        footer = app.query_one(Footer)
        await pilot.pause()
        first = len(getattr(footer, "__watchers", {}).get("compact", []))
        for _ in range(3):
            app.screen.refresh_bindings()  # what a focus change or a pushed screen does
            await pilot.pause()
            await pilot.pause()
        assert len(getattr(footer, "__watchers", {}).get("compact", [])) > first


async def test_fast_answers_never_crash_or_pop_the_wrong_screen(app_for, supervisor) -> None:
    """Keys typed faster than a dialog mounts or closes (``n`` ``esc``, a double ``y``)."""
    seed_job("a", state="completed")
    seed_job("d", state="dead", attempts=4, now=T0 - 700)
    seed_worker("w-a")
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press(*["n", "escape"] * 4)
        await pilot.press(*["question_mark", "escape", "escape"] * 3)
        await pilot.press(*["enter", "escape", "escape"] * 3)
        await pilot.press("2", "R", "n", "n", "p", "escape", "escape", "1")
        await pilot.press("3", "x", "y", "y", "s", "escape", "escape", "1")
        await pilot.press("4", "enter", "escape", "escape", "1")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1, "back on the panes")
        assert app.is_running and isinstance(app.screen.query_one(JobsPane), JobsPane)


KEYS = [*"123456789nrcdRpsxXKoOjkgGyeu", "escape", "enter", "space", "slash"]
KEYS += ["question_mark", "up", "down", "pageup", "pagedown", "home", "end", "tab", "ctrl+s"]


async def test_a_random_burst_of_keys_never_crashes_the_app(app_for, supervisor) -> None:
    for index in range(30):
        seed_job(f"j{index:02d}", state=("pending", "dead", "completed")[index % 3])
    seed_worker("w-a")
    app = app_for()
    rng = random.Random(15)
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        for _ in range(3):  # 90 keys: every key of KEYS about twice (the soak presses thousands)
            await pilot.press(*(rng.choice(KEYS) for _ in range(30)))
            app.refresh_now()
        await pilot.press(*["escape"] * 6)
        await pilot.pause()
        assert app.is_running


async def test_times_no_date_can_show_are_a_placeholder(app_for) -> None:
    seed_job("far", state="failed", attempts=1, run_at=1e18, finished_at=-1e18)
    seed_run("far", 1, started_at=1e18, finished_at=1e18 + 5, outcome="failed", exit_code=1)
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        assert isinstance(app, QueueApp)
        assert str(app.jobs_pane.table.cells_of("far")[5]) == "in >100y"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
        screen = app.screen
        await detail_loaded(pilot, screen)
        fields = "".join(
            segment.text
            for y in range(8)
            for segment in screen.query_one("#detail-fields").render_line(y)
        )
        assert "invalid time (1e+18) (>100y from now)" in fields
        assert Job.get_by_id("far").run_at == 1e18  # shown, never altered


def burst(app: App[Any], *keys: str) -> None:
    """Keys delivered together, as a terminal does for a fast typist or a slow link."""
    for key in keys:
        character = {"slash": "/", "space": " "}.get(key, key if len(key) == 1 else None)
        app.post_message(events.Key(key, character))


async def test_keys_in_a_burst_act_in_order_on_what_the_keys_before_made(
    app_for, supervisor
) -> None:
    seed_job("d", state="dead", attempts=4, now=T0 - 700)
    seed_job("f", state="failed", attempts=1)  # the newest, highlighted: r would retry it
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        assert app.query_one(JobsPane).highlighted == "f"
        box = app.query_one("#job-filter", Input)
        burst(app, "slash", *"error q")  # r and q are typed, never retry or quit
        await wait_for(pilot, lambda: box.value == "error q", "the filter typed")
        assert app.is_running and Job.get_by_id("f").state == "failed"
        await pilot.press("ctrl+u", "enter")
        await wait_for(pilot, lambda: app.focused is app.query_one(JobsPane).table, "filter shut")
        burst(app, "2", "r")  # r on the DLQ, not on the jobs table
        await wait_for(pilot, lambda: Job.get_by_id("d").state == "pending", "d retried")
        assert Job.get_by_id("f").state == "failed"
        burst(app, "3", "s", "backspace", "2", "enter")  # 2 is typed, never the DLQ pane
        await wait_for(pilot, lambda: len(supervisor.calls) == 1, "workers started")
        assert supervisor.calls[0][1][1] == 2
        tabs = app.query_one(TabbedContent)
        await wait_for(pilot, lambda: tabs.active == "workers", "still on the workers pane")
        assert len(app.screen_stack) == 1  # no job detail opened by that enter
        burst(app, "n", *"echo")
        await wait_for(pilot, lambda: isinstance(app.screen, NewJobScreen), "the form")
        command = app.screen.query_one("#f-command", Input)
        await wait_for(pilot, lambda: command.value == "echo", "the command typed")


async def test_a_late_focus_from_a_pane_switch_does_not_take_the_tabs_back(
    app_for, monkeypatch
) -> None:
    """A switch focuses its pane's table again after the next repaint, which a loaded
    machine delays past the next key. Arriving after a later switch, that focus used to
    make the tabs follow it back: ``2`` then ``3`` ended on the DLQ pane (seen in CI)."""
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        held: list[tuple[Any, tuple[Any, ...]]] = []
        monkeypatch.setattr(
            app, "call_after_refresh", lambda callback, *args: held.append((callback, args))
        )
        await pilot.press("2")
        await pilot.pause()
        late = list(held)  # the DLQ switch's deferred focus, held back past the next key
        monkeypatch.undo()
        await pilot.press("3")
        await wait_for(pilot, lambda: app.focused is app.workers_pane.table, "the workers table")
        assert late, "the switch deferred a focus"
        for callback, args in late:
            callback(*args)
        await pilot.pause()
        await pilot.pause()
        assert (app.tabs.active, app.focused) == ("workers", app.workers_pane.table)


async def test_a_change_waiting_for_the_write_lock_says_so(app_for, opened, monkeypatch) -> None:
    """With another process writing, ``c`` ``y`` closed the dialog and said nothing for
    the whole wait (9 s in the review), then "cancelled"."""
    import sqlite3
    import threading

    from queuectl.store.db import sqlite_path
    from tui import actions

    path = sqlite_path(opened)
    if path is None:
        pytest.skip("SQLite's write lock")
    monkeypatch.setattr(actions, "SLOW_ACTION_SECONDS", 0.2)
    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        released = threading.Timer(1.5, other.execute, ("COMMIT",))
        try:
            await pilot.press("c")
            await pilot.press("y")
            await wait_toast(pilot, "Still waiting for the database")
            released.start()
            await wait_toast(pilot, "cancelled")
        finally:
            released.cancel()
            released.join()
            other.close()
        assert Job.get_by_id("a").state == "cancelled"


async def test_a_change_the_database_refused_names_the_change_and_the_lock_holder(
    app_for, monkeypatch
) -> None:
    """After 15 s of waiting for another process's write lock, ``c`` ``y`` ended in a
    toast of just "database is locked", naming neither the change nor the holder."""
    from queuectl.errors import StoreUnavailable
    from queuectl.lifecycle import manage

    def locked(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable(
            "database is locked",
            explain=lambda: "database is locked (held by pid 4242: sqlite3 queuectl.db)",
        )

    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        monkeypatch.setattr(manage, "act", locked)
        await pilot.press("c")
        await pilot.press("y")
        await wait_toast(
            pilot,
            "Cancel of job a was not done: database is locked (held by pid 4242: sqlite3",
        )
    assert Job.get_by_id("a").state == "pending"


@pytest.mark.parametrize("key", ["c", "d"])
async def test_a_question_the_database_could_not_prepare_names_the_change(
    app_for, monkeypatch, key
) -> None:
    """Before asking, a cancel or delete reads what goes dead with the job: with the
    server away, that read's toast was psycopg's bare "connection failed: …", which
    named no change (an outside try on PostgreSQL)."""
    from queuectl.errors import StoreUnavailable
    from queuectl.lifecycle import deps

    def away(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("connection failed: Connection refused")

    seed_job("a")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        monkeypatch.setattr(deps, "would_take_down", away)
        await pilot.press(key)
        doing = "Cancel" if key == "c" else "Delete"
        await wait_toast(pilot, f"{doing} of job a was not done: connection failed")
    assert Job.get_by_id("a").state == "pending"


def _reads_taking(monkeypatch, took: dict[str, float]) -> None:
    """Every snapshot read from now on says it took ``took["seconds"]``, of which
    ``took["cpu"]`` of the reading thread's CPU (read at each read: a test may change it)."""
    import tui.app as dashboard

    real = dashboard.read_snapshot

    def timed(request, now):
        snapshot = real(request, now)
        snapshot.elapsed, snapshot.elapsed_cpu = took["seconds"], took["cpu"]
        return snapshot

    monkeypatch.setattr(dashboard, "read_snapshot", timed)


def _recorded_rests(app, monkeypatch) -> list[float]:
    """The rests the app waits before each refresh from now on, as it arms them."""
    rests: list[float] = []
    armed = app.set_timer

    def recording(delay, callback=None, **kwargs):
        if callback == app.refresh_now:
            rests.append(delay)
        return armed(delay, callback, **kwargs)

    monkeypatch.setattr(app, "set_timer", recording)
    return rests


async def test_a_slow_read_spaces_the_next_refresh_out(app_for, monkeypatch) -> None:
    """At most ``READ_SHARE`` of a core goes to reading: a read of 0.2 s (a sort over
    100,000 jobs takes half that) is followed by 3.8 s of rest, not the usual 1 s; a
    quick one by the usual rest."""
    import tui.app as dashboard

    took = {"seconds": 0.2, "cpu": 0.2}
    _reads_taking(monkeypatch, took)
    app = app_for(refresh_interval=1.0)
    async with app.run_test(size=(100, 24)) as pilot:
        rests = _recorded_rests(app, monkeypatch)
        await refreshed(pilot)
        assert rests[-1] == pytest.approx(0.2 * (1 / dashboard.READ_SHARE - 1))
        took["seconds"] = took["cpu"] = 0.01
        await refreshed(pilot)
        assert rests[-1] == 1.0


async def test_a_read_that_waited_on_a_hung_server_does_not_put_the_next_one_off(
    app_for, monkeypatch
) -> None:
    """A PostgreSQL postmaster stopped for 6 s made that read take 6 s, and the next
    refresh came 114 s later: the header showed a thawed server's numbers for two
    minutes, with no banner. A read's waits space the next one out by 4.75 s at most."""
    import tui.app as dashboard

    _reads_taking(monkeypatch, {"seconds": 6.0, "cpu": 0.004})
    app = app_for(refresh_interval=1.0)
    async with app.run_test(size=(100, 24)) as pilot:
        rests = _recorded_rests(app, monkeypatch)
        await refreshed(pilot)
        assert rests[-1] == pytest.approx(
            dashboard.WAITED_READ_CAP * (1 / dashboard.READ_SHARE - 1)
        )
        assert rests[-1] < 5


async def test_a_worker_it_started_that_exits_is_collected_at_the_next_refresh(app_for) -> None:
    """Workers started from the dashboard and stopped later (by ``x``, by another
    dashboard) stayed zombies of a dashboard left open, until it next started one."""
    import subprocess

    from queuectl.runtime import supervisor

    exited = subprocess.Popen(["true"])  # one the dashboard started, since stopped
    supervisor._children[exited.pid] = exited
    wait_for_exit = 50
    while wait_for_exit and _state_of(exited.pid) != "Z":
        wait_for_exit -= 1
        await asyncio.sleep(0.02)
    assert _state_of(exited.pid) == "Z"
    app = app_for()
    async with app.run_test(size=(100, 30)) as pilot:
        await refreshed(pilot)
        assert exited.pid not in supervisor._children
        assert _state_of(exited.pid) is None  # collected: no zombie left


def _state_of(pid: int) -> str | None:
    """A process's state letter (``Z`` for a zombie), ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None
