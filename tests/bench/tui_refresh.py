"""How much one dashboard refresh costs at 1k, 10k and 100k jobs (run by hand).

    python tests/bench/tui_refresh.py [1000 10000 100000]

For each size it builds a fresh database (bulk ``enqueue_many``, then a spread
of states), and measures, headless:

* query: ``read_snapshot`` in the refresh thread (every table, windowed to 500);
* apply: the UI-thread diff of a snapshot into the tables, steady state (only
  ages change) and with 50 new jobs arriving above the cursor.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dashboard import refresh_once

from queuectl import db, queue
from queuectl.jobspec import JobSpec
from queuectl.models import Job
from tui.app import make_app
from tui.data import Request, read_snapshot

NOW = 1_795_000_000.0
ROUNDS = 7


def build(path: str, count: int) -> None:
    db.open_database(path)
    specs = [JobSpec(command=f"python -m task --item {i} --flag value") for i in range(count)]
    for start in range(0, count, 20_000):
        queue.enqueue_many(specs[start : start + 20_000], now=NOW - 3600, cwd="/srv")
    # A realistic spread: most completed, some failed/dead/processing.
    with db.write_transaction():
        Job.update(
            state="completed", attempts=1, started_at=NOW - 3000, finished_at=NOW - 2990
        ).where(Job.id < "m").execute()
        Job.update(state="dead", attempts=4, last_error="exit code 1").where(
            Job.id.between("m", "m2")
        ).execute()
        Job.update(state="processing", attempts=1, started_at=NOW - 5, worker_id="w-1").where(
            Job.id.between("n", "n0")
        ).execute()


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms"


async def measure_apply(path: str) -> tuple[list[float], list[float]]:
    clock = [NOW]
    app = make_app(path, clock=lambda: clock[0], refresh_interval=3600.0)
    steady: list[float] = []
    churn: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await refresh_once(pilot)
        await refresh_once(pilot)
        for round_ in range(ROUNDS):
            clock[0] += 1.0
            await refresh_once(pilot)
            steady.append(app.last_apply_seconds)
            queue.enqueue_many(
                [JobSpec(command=f"echo new {round_}-{i}") for i in range(50)],
                now=clock[0],
                cwd="/srv",
            )
            await refresh_once(pilot)
            churn.append(app.last_apply_seconds)
    return steady, churn


def main(sizes: list[int]) -> None:
    print(f"{'jobs':>8}  {'query (thread)':>15}  {'apply steady':>13}  {'apply +50 new':>13}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "bench.db")
            started = time.perf_counter()
            build(path, size)
            built = time.perf_counter() - started
            queries = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                read_snapshot(Request(), NOW)
                queries.append(time.perf_counter() - started)
            steady, churn = asyncio.run(measure_apply(path))
            print(
                f"{size:>8}  {median_ms(queries):>15}  {median_ms(steady):>13}  "
                f"{median_ms(churn):>13}   (built in {built:.1f}s)"
            )
            db.close_database()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1_000, 10_000, 100_000])
