"""Two builds of queuectl, interleaved on the same jobs: the before/after of a hot-path change.

    git worktree add /tmp/before <commit>
    (cd /tmp/before && python3 -m venv .venv && .venv/bin/pip install -q -e .)
    python tests/bench/builds.py /tmp/before/.venv/bin/queuectl .venv/bin/queuectl

Each round runs ``xargs -P4`` (the limit), then each build with 4 one-job workers and
with 1 worker of 4 slots, so every figure of a round sees the same noise; medians are
printed as ratios to the limit. A build is timed from its jobs' enqueue commit
(``created_at``) to the last finish, so the CLI's start-up is not counted.
Never collected by pytest (``norecursedirs``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time

LAYOUTS = {"4 workers": (4, 1), "1 worker --slots 4": (1, 4)}
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


def queue_rate(executable: str, command: str, jobs: int, count: int, slots: int) -> float:
    """Jobs per second of one build draining ``jobs`` copies of ``command`` on a fresh
    SQLite database, from the enqueue commit to the last finish."""
    with tempfile.TemporaryDirectory(prefix="queuectl-builds-") as folder:
        env = {**os.environ, "QUEUECTL_DB": os.path.join(folder, "q.db")}
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
            connection = sqlite3.connect(env["QUEUECTL_DB"])
            try:
                while connection.execute(_UNFINISHED).fetchone()[0]:
                    time.sleep(0.05)
                first, last = connection.execute(
                    "SELECT MIN(created_at), MAX(finished_at) FROM queuectl_job"
                ).fetchone()
            finally:
                connection.close()
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
    args = parser.parse_args()
    builds = {"before": args.before, "after": args.after}
    for command in args.command or ["true", "sleep 0.01"]:
        rates: dict[str, list[float]] = {"xargs -P4": []}
        for _ in range(args.rounds):
            rates["xargs -P4"].append(xargs_rate(command, args.jobs))
            for layout, (count, slots) in LAYOUTS.items():
                for build, executable in builds.items():
                    rate = queue_rate(executable, command, args.jobs, count, slots)
                    rates.setdefault(f"{build}, {layout}", []).append(rate)
        limit = statistics.median(rates["xargs -P4"])
        load = os.getloadavg()[0]
        print(f"{command!r} x{args.jobs}, {args.rounds} interleaved rounds, load {load:.1f}:")
        for name, values in rates.items():
            median = statistics.median(values)
            each = ", ".join(f"{value:,.0f}" for value in values)
            print(f"  {name:28s} {median:7,.0f}/s  {median / limit:.2f}x xargs  ({each})")


if __name__ == "__main__":
    main()
