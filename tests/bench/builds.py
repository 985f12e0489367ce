"""Two builds of queuectl, interleaved on the same jobs: the before/after of a hot-path change.

    git worktree add /tmp/before <commit>
    (cd /tmp/before && python3 -m venv .venv && .venv/bin/pip install -q -e .)
    python tests/bench/builds.py /tmp/before/.venv/bin/queuectl .venv/bin/queuectl

Each round runs ``xargs -P4`` (the limit), then each build with 4 one-job workers,
with 1 worker of 4 slots and with 2 workers of 2 slots, so every figure of a round sees
the same noise; medians are printed as ratios to the limit. A build is timed from its
jobs' enqueue commit (``created_at``) to the last finish, so the CLI's start-up is not
counted. On a fresh SQLite file each time, or with ``--pg-url`` a fresh schema of that
PostgreSQL server (both builds need the ``postgres`` extra). Never collected by pytest
(``norecursedirs``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from run import pg_location

LAYOUTS = {"4 workers": (4, 1), "1 worker --slots 4": (1, 4), "2 workers --slots 2": (2, 2)}
"""Worker count and slots per worker: four jobs at once either way."""

_UNFINISHED = "SELECT COUNT(*) FROM queuectl_job WHERE state IN ('pending', 'processing', 'failed')"


def xargs_rate(command: str, jobs: int) -> float:
    """Jobs per second of ``seq N | xargs -P4 -n 1 sh -c COMMAND``."""
    start = time.perf_counter()
    subprocess.run(
        ["sh", "-c", f'seq {jobs} | xargs -P 4 -n 1 sh -c "$0"', command],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return jobs / (time.perf_counter() - start)


@contextlib.contextmanager
def fresh_database(pg_url: str | None) -> Iterator[str]:
    """A new, empty database's location for ``QUEUECTL_DB``: a file, or a schema of its own
    on that PostgreSQL server (``run.pg_location``)."""
    if pg_url is not None:
        with pg_location(pg_url) as location:
            yield location
        return
    with tempfile.TemporaryDirectory(prefix="queuectl-builds-") as folder:
        yield os.path.join(folder, "q.db")


def _reader(location: str, *, postgres: bool) -> Any:
    """A connection that reads the database at ``location`` (a URL names its schema)."""
    if postgres:
        import psycopg

        return psycopg.connect(location, autocommit=True)
    return sqlite3.connect(location)


def queue_rate(
    executable: str,
    command: str,
    jobs: int,
    count: int,
    slots: int,
    pg_url: str | None,
    during: Callable[[], object] | None = None,
) -> float:
    """Jobs per second of one build draining ``jobs`` copies of ``command`` on a fresh
    database, from the enqueue commit to the last finish; ``during`` is called once the
    jobs are enqueued, while they drain (``schedidle.py`` records the scheduler then)."""
    with fresh_database(pg_url) as location:
        env = {**os.environ, "QUEUECTL_DB": location}
        start = [executable, "worker", "start", "--count", str(count), "--slots", str(slots)]
        subprocess.run(start, env=env, check=True, capture_output=True)
        try:
            time.sleep(0.5)  # registered and settled into their idle wait
            lines = "\n".join(json.dumps({"command": command}) for _ in range(jobs))
            subprocess.run(
                [executable, "enqueue", "--file", "-"],
                input=lines.encode(),
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            if during is not None:
                during()
            with contextlib.closing(_reader(location, postgres=pg_url is not None)) as connection:
                while connection.execute(_UNFINISHED).fetchone()[0]:
                    time.sleep(0.05)
                first, last = connection.execute(
                    "SELECT MIN(created_at), MAX(finished_at) FROM queuectl_job"
                ).fetchone()
        finally:
            subprocess.run([executable, "worker", "stop"], env=env, check=True, capture_output=True)
    return jobs / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the first build's queuectl executable")
    parser.add_argument("after", help="the second build's queuectl executable")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--command", action="append", help="repeatable; default: true, sleep 0.01")
    parser.add_argument("--pg-url", help="measure on this PostgreSQL server instead of SQLite")
    args = parser.parse_args()
    builds = {"before": args.before, "after": args.after}
    for command in args.command or ["true", "sleep 0.01"]:
        rates: dict[str, list[float]] = {"xargs -P4": []}
        for round_number in range(args.rounds):
            rates["xargs -P4"].append(xargs_rate(command, args.jobs))
            for layout, (count, slots) in LAYOUTS.items():
                # Alternate which build goes first: the second of a pair ran 5-8% slower
                # with the same build on both sides (the first one's writes still being
                # flushed), which read as a regression of every "after".
                order = list(builds.items())
                if round_number % 2:
                    order.reverse()
                for build, executable in order:
                    rate = queue_rate(executable, command, args.jobs, count, slots, args.pg_url)
                    rates.setdefault(f"{build}, {layout}", []).append(rate)
                    os.sync()  # the drain's writes reach the disk before the next one starts
        limit = statistics.median(rates["xargs -P4"])
        load = os.getloadavg()[0]
        backend = "PostgreSQL" if args.pg_url else "SQLite"
        print(
            f"{command!r} x{args.jobs} on {backend}, {args.rounds} interleaved rounds,"
            f" load {load:.1f}:"
        )
        for name, values in rates.items():
            median = statistics.median(values)
            each = ", ".join(f"{value:,.0f}" for value in values)
            print(f"  {name:28s} {median:7,.0f}/s  {median / limit:.2f}x xargs  ({each})")


if __name__ == "__main__":
    main()
