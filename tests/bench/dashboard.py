"""The cost of one dashboard refresh, headless: the query in its thread plus the diff.

With the ``tui`` package present this is the real refresh: ``tui.data.read_snapshot``
(every table, windowed) and the UI thread's apply of that snapshot, measured by
the app itself (``last_apply_seconds``) in a headless ``run_test``, with 50 new
jobs arriving between refreshes so the diff has work. Without it, the queries
the dashboard will run: ``queue.list_jobs(limit=500)`` and ``queue.counts()``.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from queuectl import queue
from queuectl.jobspec import JobSpec

ROUNDS = 7


def refresh_cost(location: str) -> tuple[float, str]:
    """Median seconds of one refresh on the bound database, and what was measured."""
    try:
        from tui.app import make_app
        from tui.data import Request, read_snapshot
    except ImportError:
        return _queries_only(), "list_jobs(500) + counts(); no tui package yet"
    now = time.time()
    queries = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        read_snapshot(Request(), now)
        queries.append(time.perf_counter() - started)
    apply = asyncio.run(_apply_cost(location, make_app))
    query = statistics.median(queries)
    return query + apply, f"read_snapshot {query * 1000:.0f} ms + apply {apply * 1000:.0f} ms"


def _queries_only() -> float:
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        queue.list_jobs(limit=500)
        queue.counts()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def refresh_once(pilot) -> None:  # type: ignore[no-untyped-def]
    """Start one refresh of the app under ``pilot`` and wait until it was applied."""
    app = pilot.app
    before = app.refresh_count
    app.refresh_now()
    while app.refresh_count == before:
        await pilot.pause(0.005)


async def _apply_cost(location: str, make_app) -> float:  # type: ignore[no-untyped-def]
    app = make_app(location, refresh_interval=3600.0)
    samples: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await refresh_once(pilot)
        for round_ in range(ROUNDS):
            queue.enqueue_many(
                [JobSpec(command=f"echo new {round_}-{i}") for i in range(50)], cwd="/"
            )
            await refresh_once(pilot)
            samples.append(app.last_apply_seconds)
    return statistics.median(samples)
