"""Fixtures for ``queuectl web``: a seeded database, a served dashboard, and Chromium.

Servers and the browser are shared per module (each costs a second or two of
CPU to start). Browser tests use Debian's ``chromium`` driven by Playwright
(which cannot download its own browsers here) and skip, saying why, where
either is missing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store import db
from queuectl.store.models import Job
from tests.web import browser as browser_tools
from tests.web.served import Served


def seed(path: str) -> None:
    """Two jobs: ``dead-1`` in the DLQ, and ``done-1``, newer, completed.

    The newest job is the one the Jobs pane highlights, so a retry that reached
    the Jobs pane instead of the DLQ would show up on ``done-1``.
    """
    now = time.time()
    db.open_database(path)
    try:
        enqueuing.enqueue(JobSpec(command="exit 3", id="dead-1", max_retries=0), now=now - 60)
        enqueuing.enqueue(JobSpec(command="echo done", id="done-1"), now=now - 30)
        Job.update(
            state="dead", attempts=1, exit_code=3, last_error="exit status 3", finished_at=now - 59
        ).where(Job.id == "dead-1").execute()
        Job.update(state="completed", attempts=1, exit_code=0, finished_at=now - 29).where(
            Job.id == "done-1"
        ).execute()
    finally:
        db.close_database()


def job_state(path: str, job_id: str) -> str:
    """A job's state, read with plain sqlite3 (no peewee binding to disturb)."""
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT state FROM queuectl_job WHERE id = ?", (job_id,))
        return row.fetchone()[0]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("web") / "served-queue.db")
    seed(path)
    return path


@pytest.fixture(scope="module")
def served(seeded: str) -> Iterator[Served]:
    """One ``queuectl web`` for the module, on the seeded database."""
    server = Served(seeded)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, shared by the module's tests (each opens its own page)."""
    reason = browser_tools.missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = browser_tools.launch(playwright)
        yield chromium
        chromium.close()
