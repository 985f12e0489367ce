"""Dashboard fixtures: a seeded database, a frozen clock, and waits that never sleep blindly.

The app is built with a long refresh interval, so tests decide when a refresh
happens (``refreshed``) and wait for conditions with a deadline (``wait_for``).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.runtime.supervisor import Pruned
from queuectl.store.models import Job, Run, Worker
from tests.conftest import T0
from tui.app import QueueApp, make_app
from tui.columns import CELL_PADDING
from tui.panes.table import KeyedTable
from tui.screens.confirm import ConfirmScreen
from tui.screens.detail import JobDetailScreen


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (Pilot needs one; no plugin required)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


WAIT_SECONDS = 10.0
"""Deadline for any condition; generous because the test machine is shared and noisy."""


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], what: str = "") -> None:
    """Let the app run until ``condition()`` holds, failing after ``WAIT_SECONDS``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.01)


async def refreshed(pilot: Pilot[Any]) -> None:
    """Start a refresh now and wait until the app has settled on what it read.

    The app's own first refresh (started on mount) is waited for first: starting
    ours while it runs supersedes it, so a test would see one refresh or two
    depending on which finished first. Settled means no refresh in flight,
    including the one the app starts at once when the command column was sized
    before its rows were known.
    """
    app = pilot.app
    assert isinstance(app, QueueApp)
    await wait_for(pilot, lambda: app.refresh_count > 0, "the first refresh")
    before = app.refresh_count
    app.refresh_now()
    await wait_for(
        pilot, lambda: app.refresh_count > before and not app.refreshing, "a settled refresh"
    )
    await pilot.pause()


def on_screen(table: KeyedTable) -> bool:
    """The cursor's row is inside the table's visible rows."""
    top = round(table.scroll_y)
    page = table.scrollable_content_region.height - 1  # the header row
    return table.row_count == 0 or top <= table.cursor_row < top + page


def drawn_cell(table: KeyedTable, row_key: str, column: str) -> str:
    """A cell of ``row_key``'s row as the table draws it now (``column``: its key)."""
    line = table.render_line(table.get_row_index(row_key) + 1 - round(table.scroll_y)).text
    start = 0
    for key, width in table.layout:
        if key == column:
            return line[start + CELL_PADDING : start + CELL_PADDING + width].strip()
        start += width + 2 * CELL_PADDING
    raise AssertionError(f"no {column} column on screen: {table.layout}")


async def settled_on_screen(pilot: Pilot[Any], table: KeyedTable) -> None:
    """Wait for the table's deferred scroll, then insist the cursor is visible."""
    await pilot.pause()
    await wait_for(pilot, lambda: on_screen(table), "the cursor on screen")


def toasts(app: QueueApp) -> list[str]:
    """The text of every notification shown so far."""
    return list(app.toasts)


async def open_detail(pilot: Pilot[Any]) -> JobDetailScreen:
    """``enter`` on the highlighted job, once its detail screen has read it and drawn it."""
    app = pilot.app
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "detail")
    screen = app.screen
    assert isinstance(screen, JobDetailScreen)
    await detail_loaded(pilot, screen)
    return screen


async def detail_loaded(pilot: Pilot[Any], screen: JobDetailScreen, loads: int = 1) -> None:
    """Until the detail has read its job ``loads`` times and drawn what it read.

    The fields take their new height at the next layout: read before it, a field
    below the old height was a blank line (once each, in a full run at -n 2)."""
    await wait_for(pilot, lambda: screen.loads >= loads, "detail load")
    drawn: list[bool] = []
    screen.call_after_refresh(drawn.append, True)
    await wait_for(pilot, lambda: bool(drawn), "the detail drawn")


async def wait_toast(pilot: Pilot[Any], fragment: str) -> None:
    app = pilot.app
    assert isinstance(app, QueueApp)
    await wait_for(pilot, lambda: any(fragment in t for t in toasts(app)), f"toast {fragment!r}")


async def asked(pilot: Pilot[Any], *keys: str) -> ConfirmScreen:
    """Press ``keys`` and wait for the yes/no question they open; returns it."""
    await pilot.press(*keys)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
    screen = pilot.app.screen
    assert isinstance(screen, ConfirmScreen)
    return screen


async def open_form(pilot: Pilot[Any], key: str = "n") -> Any:
    """Press ``key`` (``n`` new, ``e`` edit) and wait for the job form; returns it."""
    from tui.screens.new_job import NewJobScreen

    def composed() -> bool:
        # Shown is not yet composed: under load a test read a field of the form before
        # it was mounted (NoMatches: '#f-command').
        screen = pilot.app.screen
        return isinstance(screen, NewJobScreen) and bool(screen.query("#f-command"))

    await pilot.press(key)
    await wait_for(pilot, composed, "the job form")
    return pilot.app.screen


def seed_job(
    job_id: str, command: str = "echo hi", *, state: str = "pending", **fields: Any
) -> str:
    """One job with a fixed id and time, then forced into ``state`` with ``fields``."""
    enqueuing.enqueue(
        JobSpec(command=command, id=job_id), now=fields.pop("now", T0 - 600), cwd="/srv"
    )
    if state != "pending" or fields:
        Job.update(state=state, **fields).where(Job.id == job_id).execute()
    return job_id


def seed_run(job_id: str, attempt: int = 1, **fields: Any) -> int:
    values = {
        "job": job_id,
        "run": attempt,
        "attempt": attempt,
        "started_at": T0 - 100,
        "worker_id": "w-1",
    }
    values.update(fields)
    return Run.insert(**values).execute()


def seed_worker(worker_id: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "id": worker_id,
        "pid": 4242,
        "host": "box",
        "started_at": T0 - 3600,
        "heartbeat_at": T0 - 2,
    }
    values.update(fields)
    Worker.insert(**values).execute()


@pytest.fixture
def db_url(db_path: str) -> str:
    """Dashboard tests run on SQLite only: the backend matrix is for the core, the CLI
    and the workers, and ``test_on_postgres.py`` runs the dashboard once on PostgreSQL."""
    return db_path


@pytest.fixture
def app_for(opened: str) -> Callable[..., QueueApp]:
    """Builds the dashboard on the test database with the frozen clock."""

    def build(**kwargs: Any) -> QueueApp:
        kwargs.setdefault("clock", lambda: T0)
        kwargs.setdefault("refresh_interval", 3600.0)
        return make_app(opened, **kwargs)

    return build


class FakeSupervisor:
    """Stands in for ``queuectl.supervisor``: records calls, follows its contract."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.recovered: list[str] = []  # what recover_now reports
        self.hooks_skipped: list[str] = []  # what recover_now says of hooks it did not run
        self.stop_takes = 0.0  # seconds wait_stopped takes
        self.on_stop: Callable[[list[str], bool], None] | None = None
        """What the workers do when asked to stop (a forced one records the jobs it kills)."""

    def module(self) -> types.ModuleType:
        module = types.ModuleType("queuectl.runtime.supervisor")
        module.start_workers = self.start_workers  # type: ignore[attr-defined]
        module.request_stop = self.request_stop  # type: ignore[attr-defined]
        module.wait_stopped = self.wait_stopped  # type: ignore[attr-defined]
        module.recover_now = self.recover_now  # type: ignore[attr-defined]
        module.prune = self.prune  # type: ignore[attr-defined]
        module.reap_exited = lambda: None  # type: ignore[attr-defined]
        module.MAX_SLOTS = 64  # type: ignore[attr-defined]
        return module

    def start_workers(
        self, location: str, count: int, queues=("default",), *, slots: int = 1
    ) -> list[str]:
        self.calls.append(("start", (location, count)))
        self.queues = list(queues)
        self.slots = slots
        return [f"w{i}" for i in range(count)]

    def request_stop(self, worker_ids=None, *, force: bool = False) -> list[str]:
        self.calls.append(("stop", (worker_ids, force)))
        asked = list(worker_ids or ["w-a", "w-b"])
        if self.on_stop is not None:
            self.on_stop(asked, force)
        return asked

    def wait_stopped(self, worker_ids, timeout: float) -> list[str]:
        self.calls.append(("wait", list(worker_ids)))
        time.sleep(self.stop_takes)  # a busy worker finishes its job first
        return []

    def prune(self, older_than: float = 0.0) -> Pruned:
        """Deletes the rows of stopped workers and of those silent for a minute (lost),
        saying the jobs the lost ones ran were recovered (their rows are left alone)."""
        self.calls.append(("prune", older_than))
        ended = (Worker.state == "stopped") | (Worker.heartbeat_at < T0 - 60)
        pruned = list(Worker.select().where(ended))
        lost = [row.id for row in pruned if row.state != "stopped"]
        ran = Job.select(Job.id).where(Job.worker_id.in_(lost) & (Job.state == "processing"))
        Worker.delete().where(ended).execute()
        return Pruned(pruned, [job.id for job in ran])

    def recover_now(
        self, lease: float | None = None, *, hook_skipped: Callable[[str], None] | None = None
    ) -> list[str]:
        self.calls.append(("recover", lease))
        for said in self.hooks_skipped:
            if hook_skipped is not None:
                hook_skipped(said)
        return list(self.recovered)


@pytest.fixture
def gated_reads(monkeypatch) -> threading.Event:
    """The dashboard's reads wait while the returned event is cleared: a read that a key
    starts has not come back when the next key arrives, as keys typed in one go meet it.
    Set at first; clear it to hold the next read, set it to let it through."""
    import tui.app as dashboard

    real, gate = dashboard.read_snapshot, threading.Event()
    gate.set()

    def gated(request: Any, now: float) -> Any:
        assert gate.wait(10), "a held read was never let through"
        return real(request, now)

    monkeypatch.setattr(dashboard, "read_snapshot", gated)
    return gate


@pytest.fixture
def supervisor(monkeypatch) -> FakeSupervisor:
    """No real worker is started or signalled: the dashboard talks to this instead."""
    fake = FakeSupervisor()
    monkeypatch.setitem(sys.modules, "queuectl.runtime.supervisor", fake.module())
    return fake
