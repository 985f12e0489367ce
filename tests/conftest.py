"""Fixtures shared by every test: a fresh database on each backend, and a fixed clock.

``db_url`` is parametrized over SQLite and PostgreSQL, so every test that
uses it (or ``opened``) runs on both with no copied code. PostgreSQL tests
read the server from ``QUEUECTL_TEST_PG_URL`` and skip, saying why, when it
is unset; each test gets a schema of its own, as new (``tests.pgschemas``).
"""

from __future__ import annotations

import gc
import os
import sqlite3
from collections.abc import Iterator

import pytest
import textual._wait
import textual.constants

from queuectl.store import db
from tests import pgschemas

# Textual's transitions (a tab's sliding underline, scrolls) off in the tests: Pilot waits
# for each animation to end, which made a pane switch cost 0.5 s of test time against 0.2 s
# without (a cursor move 75 ms against 50). Only the in-between frames go; where each key
# leaves the screen is the same. The constant is what each App reads when built (Textual is
# already imported by the snapshot plugin); the variable is for the dashboards that tests
# start as processes (the web dashboard's).
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
textual.constants.TEXTUAL_ANIMATIONS = "none"  # type: ignore[misc]

# Pilot's key presses and pauses wait for the app to go idle: sleeps of 20 ms, watching the
# process's CPU, twice a key. With 5 ms the same test (the app used under 5% of a core
# meanwhile) is made four times as often: ``pytest -n 2 tests/tui`` went from 155 s to
# 118-129 s. A test that took "idle" for "done" was a race on a loaded machine anyway (four
# were found this way and now wait for what they check, ``tests.tui.conftest.wait_for``).
textual._wait.SLEEP_GRANULARITY = 0.005  # type: ignore[attr-defined]
textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20  # type: ignore[attr-defined]

# The cycle collector's full passes were a fifth of a dashboard test's CPU: Textual's
# render caches keep ~300k objects alive in a test process, and with the default first
# threshold (700) the short-lived strips of every frame were promoted until a full pass
# walked them all, 45 passes of 0.27 s in 70 tests. Collecting the youngest generation
# every 10,000 allocations lets most of them die young first: 8 full passes, and
# ``pytest -n 0 tests/tui/test_jobs.py tests/tui/test_marks.py`` took 41-42 s of CPU
# instead of 47-50 s (interleaved). Only this process: the workers and CLI it starts keep
# Python's defaults, and so does the dashboard users run.
gc.set_threshold(10_000, 10, 10)

T0 = 1_795_000_000.0  # 2026-11-18T08:26:40Z: a fixed "now" for tests that pass the clock
PG_ENV = "QUEUECTL_TEST_PG_URL"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch) -> None:
    """A developer's own database and data folder are never touched by the tests."""
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Iterator[str]:
    """A private SQLite file for this test, also exported as ``QUEUECTL_DB``."""
    path = str(tmp_path / "queuectl.db")
    monkeypatch.setenv("QUEUECTL_DB", path)
    yield path
    db.close_database()


postgres_schema_url = pgschemas.schema_url


@pytest.fixture(scope="session")
def _schema_pool() -> Iterator[pgschemas.SchemaPool | None]:
    """This test process's PostgreSQL schemas (``tests.pgschemas``); ``None`` without a server."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    pool = pgschemas.SchemaPool(base)
    yield pool
    pool.close()


def _pool_or_skip(pool: pgschemas.SchemaPool | None) -> pgschemas.SchemaPool:
    if pool is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    return pool


@pytest.fixture
def pg_url(_schema_pool, monkeypatch) -> Iterator[str]:
    """A schema of its own for this test, holding queuectl's tables and no rows, also
    exported as ``QUEUECTL_DB``: what the test's first open would have made."""
    pool = _pool_or_skip(_schema_pool)
    yield from _in_use(pool, pool.take(), monkeypatch)


@pytest.fixture
def bare_pg_url(_schema_pool, monkeypatch) -> Iterator[str]:
    """A new, empty schema for this test (no queuectl tables), exported as ``QUEUECTL_DB``:
    for what a first open, or a reader, finds there."""
    pool = _pool_or_skip(_schema_pool)
    yield from _in_use(pool, pool.bare(), monkeypatch)


def _in_use(pool: pgschemas.SchemaPool, schema: str, monkeypatch) -> Iterator[str]:
    """``schema``'s URL, exported as ``QUEUECTL_DB`` for the test; given back after it."""
    url = postgres_schema_url(pool.base, schema)
    monkeypatch.setenv("QUEUECTL_DB", url)
    try:
        yield url
    finally:
        db.close_database()
        pool.give_back(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """The test's database location on each backend (a file path, or a PostgreSQL URL)."""
    return request.getfixturevalue("db_path" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def opened(db_url) -> str:
    """The test database, opened and bound to the models."""
    db.open_database(db_url)
    return db_url


def dump(location: str) -> list:
    """Everything stored, to prove a failed command changed nothing.

    SQLite: the file's full SQL dump. PostgreSQL: every row of every table.
    """
    path = db.sqlite_path(location)
    if path is not None:
        with sqlite3.connect(path) as connection:
            return list(connection.iterdump())
    from playhouse.db_url import connect

    from queuectl.store.models import ALL_MODELS

    connection = connect(location)
    try:
        rows = []
        for model in ALL_MODELS:
            table = model._meta.table_name
            cursor = connection.execute_sql(f"SELECT * FROM {table} ORDER BY 1")
            rows.append((table, cursor.fetchall()))
        return rows
    finally:
        connection.close()


def pytest_report_header(config) -> str:
    """Say once, at the top, whether PostgreSQL tests run or why they skip."""
    url = os.environ.get(PG_ENV)
    if url:
        return f"queuectl: PostgreSQL tests run against {url}"
    return f"queuectl: PostgreSQL tests are SKIPPED ({PG_ENV} is unset)"


_IN_PROCESS = "tests/tui/"
"""The dashboard's Pilot tests: CPU in the test's own process, all of it."""
_SHARED_MODULE = "tests/web/"
"""Modules whose fixtures (a browser, a server) are shared by their tests: kept together."""
_SECONDS_PER_TEST = {
    "tests/tui/": 1.1,
    "tests/integration/": 1.5,
    "tests/web/": 0.6,
    "tests/reliability/": 0.5,
    "tests/security/": 0.2,
    "tests/cli/": 0.15,
}
"""What a test takes, by folder (``pytest -n 2 --durations=0``, this suite, 2026-12-06);
any other test about 0.1 s. Only the interleaving below uses it."""


def _expected_seconds(item: pytest.Item) -> float:
    return next((s for f, s in _SECONDS_PER_TEST.items() if item.nodeid.startswith(f)), 0.1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the dashboard's tests evenly through the rest, which mostly wait.

    ``pytest -n 2`` hands each worker tests from around the same place in this order,
    so in collection order both workers ran dashboard tests together (two busy cores,
    each test slowed by the other) and then process tests together (workers started,
    leases and timeouts waited out: the cores 32% idle over the run). Interleaved by
    the time each kind takes, a wait overlaps the other worker's CPU. A module that
    shares fixtures stays whole, or its browser and server would start again for every
    test. The order is the same on every worker, as xdist requires.
    """
    busy = [item for item in items if item.nodeid.startswith(_IN_PROCESS)]
    if not busy or len(busy) == len(items):
        return
    blocks: list[list[pytest.Item]] = []
    for item in items:
        if item.nodeid.startswith(_IN_PROCESS):
            continue
        shared = item.nodeid.startswith(_SHARED_MODULE)
        if shared and blocks and blocks[-1][0].module is item.module:
            blocks[-1].append(item)
        else:
            blocks.append([item])
    rest_seconds = sum(_expected_seconds(item) for block in blocks for item in block)
    ordered: list[pytest.Item] = []
    blocks.reverse()  # popped from the end: the first block first
    emitted = 0.0
    for index, item in enumerate(busy):
        while blocks and emitted * len(busy) < rest_seconds * index:
            block = blocks.pop()
            emitted += sum(_expected_seconds(one) for one in block)
            ordered.extend(block)
        ordered.append(item)
    while blocks:
        ordered.extend(blocks.pop())
    items[:] = ordered


def end_attempt(
    claim,
    outcome,
    *,
    worker_id: str | None = None,
    exit_code: int | None = None,
    output: str = "",
    error: str | None = None,
    output_bytes: int | None = None,
    final: bool = False,
    now: float | None = None,
):
    """End a claimed attempt as a worker records it (``finish.complete_attempt``); returns
    the job's new state, or ``None`` when it was no longer ``worker_id``'s (the claimer's
    by default)."""
    import dataclasses

    from queuectl.lifecycle import finish
    from queuectl.lifecycle.policy import Result

    if worker_id is not None and worker_id != claim.job.worker_id:
        claim = dataclasses.replace(claim, job=dataclasses.replace(claim.job, worker_id=worker_id))
    result = Result(outcome, exit_code, output, error, final=final, output_bytes=output_bytes)
    return finish.complete_attempt(claim, result, now=now).state
