"""The cost of one dashboard refresh, headless: the query in its thread plus the diff.

The real app runs under ``run_test`` with a clock that moves one second per
refresh, as the live dashboard's does, so the age column changes on every row.
Each round measures two refreshes: a steady one (only time has passed) and one
with 50 new jobs arriving above the rows shown. The query is what
``read_snapshot`` took in the app's refresh thread (``Snapshot.elapsed``), the
diff everything the refresh cost the UI thread: starting it, then applying the
snapshot (``last_apply_seconds``).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from dataclasses import dataclass

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing

ROUNDS = 7


@dataclass(frozen=True)
class RefreshCost:
    """Medians, in seconds, over ``ROUNDS`` rounds."""

    steady_query: float
    steady_diff: float
    churn_query: float
    churn_diff: float

    @property
    def steady(self) -> float:
        return self.steady_query + self.steady_diff

    @property
    def churn(self) -> float:
        return self.churn_query + self.churn_diff


async def refresh_once(pilot) -> float:  # type: ignore[no-untyped-def]
    """Start one refresh of the app under ``pilot``, wait until it was applied.

    Returns what starting it cost the UI thread (a worker that described itself
    by its arguments' repr once made that 19 ms). The app is let go idle first,
    as the live dashboard is after its one-second rest; the wait itself only
    sleeps, so the UI thread does not compete with the refresh thread for the
    GIL (polling the screen here tripled the query time).
    """
    app = pilot.app
    await pilot.pause()
    before = app.refresh_count
    started = time.perf_counter()
    app.refresh_now()
    start_cost = time.perf_counter() - started
    while app.refresh_count == before:
        await asyncio.sleep(0.02)
    return start_cost


def refresh_cost(location: str) -> RefreshCost:
    """What one refresh of the dashboard on ``location`` costs, steady and with new jobs."""
    return asyncio.run(_measure(location))


async def _measure(location: str) -> RefreshCost:
    from tui.app import make_app

    clock = [time.time()]
    # As ``queuectl tui`` runs it, heap freeze included.
    app = make_app(
        location, clock=lambda: clock[0], refresh_interval=3600.0, freeze_startup_heap=True
    )
    samples: dict[str, list[float]] = {"sq": [], "sd": [], "cq": [], "cd": []}

    def record(query: str, diff: str, start_cost: float) -> None:
        assert app.last_snapshot is not None
        samples[query].append(app.last_snapshot.elapsed)
        samples[diff].append(start_cost + app.last_apply_seconds)

    async with app.run_test(size=(160, 50)) as pilot:
        await refresh_once(pilot)  # the first fill, and the columns measured
        await refresh_once(pilot)
        for round_ in range(ROUNDS):
            clock[0] += 1.0
            record("sq", "sd", await refresh_once(pilot))
            clock[0] += 1.0
            enqueuing.enqueue_many(
                [JobSpec(command=f"echo new {round_}-{i}") for i in range(50)],
                now=clock[0],
                cwd="/",
            )
            record("cq", "cd", await refresh_once(pilot))
    gc.unfreeze()  # the next size builds a new app: let this one be collected
    gc.collect()
    median = {name: statistics.median(values) for name, values in samples.items()}
    return RefreshCost(median["sq"], median["sd"], median["cq"], median["cd"])
