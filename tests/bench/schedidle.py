"""Where the cores go while `true` jobs drain: busy, idle, or idle while work waits.

    sudo python tests/bench/schedidle.py [--jobs 6000] [--window 1.5] [--rounds 2]

Runs ``xargs -P4`` and a queuectl worker of 4 slots (then 4 one-job workers) on
``true`` jobs, and records the scheduler (``perf sched record``, so ``perf``
and the rights to trace) for ``--window`` seconds in the middle of each drain.
From ``perf sched timehist`` it prints, over that window:

- idle: the share of all cores' time spent idle;
- stalled: the time tasks that were ready to run waited for a core while
  another core sat idle, per second of the window;
- first run: how long a newly started process waited before it first ran
  (the worker's ``posix_spawn`` returns only after its child has run and
  exec'd, so for a worker that wait is its own).

A spawn limit reached only when the cores are busy: a queue whose loop waits on
each start leaves them idle more often than ``xargs``, and this shows how much
of that idle is the scheduler not moving ready work to an idle core.
Never collected by pytest (``norecursedirs``).
"""

from __future__ import annotations

import argparse
import bisect
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from builds import queue_rate

QUEUECTL = shutil.which("queuectl", path=os.path.dirname(sys.executable)) or "queuectl"


@dataclass(frozen=True)
class Window:
    """What the cores did during one recorded window."""

    seconds: float
    idle: float
    """Share of all cores' time idle."""
    stalled: float
    """Seconds, per second of window, that ready tasks waited while another core idled."""
    first_run_ms: float
    """Mean wait of a new process before it first ran."""


@dataclass(frozen=True)
class _Slice:
    cpu: int
    task: str
    pid: int
    ready_at: float
    ran_at: float
    ended_at: float


def _slices(data: str) -> list[_Slice]:
    """Each time a task ran, from ``perf sched timehist``: when it was ready, ran, stopped."""
    text = subprocess.run(
        ["perf", "sched", "timehist", "-i", data],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    slices = []
    for line in text.splitlines()[3:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        try:
            ended = float(fields[0])
            cpu = int(fields[1].strip("[]"))
            delay, run = float(fields[-2]) / 1e3, float(fields[-1]) / 1e3
        except ValueError:
            continue
        task, _, pid = fields[2].partition("[")
        ran = ended - run
        slices.append(
            _Slice(cpu, task, int(pid.split("/")[-1].rstrip("]") or 0), ran - delay, ran, ended)
        )
    return slices


def summarise(data: str) -> Window:
    """The window's idle share, stalls and first-run delay (see the module's docstring)."""
    slices = _slices(data)
    idle: dict[int, list[tuple[float, float]]] = {}
    for piece in slices:
        if piece.task == "<idle>":
            idle.setdefault(piece.cpu, []).append((piece.ran_at, piece.ended_at))
    start = min(piece.ran_at for piece in slices)
    end = max(piece.ended_at for piece in slices)
    seconds = end - start
    idle_total = sum(e - s for spans in idle.values() for s, e in spans)
    stalled = 0.0
    seen: set[int] = set()
    first_runs = []
    for piece in slices:
        if piece.task == "<idle>":
            continue
        if piece.pid not in seen:
            seen.add(piece.pid)
            if piece.task in ("sh", "true") or piece.task.startswith("queuectl"):
                first_runs.append(piece.ran_at - piece.ready_at)
        if piece.ran_at > piece.ready_at:
            stalled += _idle_elsewhere(idle, piece.cpu, piece.ready_at, piece.ran_at)
    cores = max(len(idle), os.cpu_count() or 1)
    return Window(
        seconds,
        idle_total / (seconds * cores),
        stalled / seconds,
        statistics.mean(first_runs) * 1e3 if first_runs else 0.0,
    )


def _idle_elsewhere(
    idle: dict[int, list[tuple[float, float]]], cpu: int, start: float, end: float
) -> float:
    """How much of ``start``..``end`` some core other than ``cpu`` was idle."""
    spans = []
    for other, idle_spans in idle.items():
        if other == cpu:
            continue
        index = max(0, bisect.bisect_left(idle_spans, (start, start)) - 1)
        while index < len(idle_spans) and idle_spans[index][0] < end:
            s, e = idle_spans[index]
            if e > start:
                spans.append((max(s, start), min(e, end)))
            index += 1
    spans.sort()
    covered, reach = 0.0, start
    for s, e in spans:
        s = max(s, reach)
        if e > s:
            covered += e - s
            reach = e
    return covered


def _record(window: float, after: float, folder: str) -> str:
    """``perf sched record`` for ``window`` seconds, starting ``after`` seconds from now."""
    time.sleep(after)
    data = os.path.join(folder, "perf.data")
    subprocess.run(
        ["perf", "sched", "record", "-o", data, "--", "sleep", str(window)],
        check=True,
        capture_output=True,
    )
    return data


def xargs_window(jobs: int, window: float) -> tuple[float, Window]:
    with tempfile.TemporaryDirectory(prefix="queuectl-sched-") as folder:
        started = time.perf_counter()
        drain = subprocess.Popen(
            ["sh", "-c", f'seq {jobs} | xargs -P 4 -n 1 sh -c "$0"', "true"],
            stdout=subprocess.DEVNULL,
        )
        data = _record(window, 0.5, folder)
        drain.wait()
        rate = jobs / (time.perf_counter() - started)
        return rate, summarise(data)


def queue_window(jobs: int, window: float, count: int, slots: int) -> tuple[float, Window]:
    """``builds.queue_rate`` of this venv's queuectl on SQLite, recorded meanwhile."""
    with tempfile.TemporaryDirectory(prefix="queuectl-sched-") as folder:
        recorded: list[str] = []
        rate = queue_rate(
            QUEUECTL,
            "true",
            jobs,
            count,
            slots,
            None,
            during=lambda: recorded.append(_record(window, 0.5, folder)),
        )
        return rate, summarise(recorded[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6000)
    parser.add_argument("--window", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("schedidle: needs perf (linux-perf) and the rights to trace the scheduler")
    runs = {
        "xargs -P4": lambda: xargs_window(args.jobs, args.window),
        "queuectl, 1 worker --slots 4": lambda: queue_window(args.jobs, args.window, 1, 4),
        "queuectl, 4 workers": lambda: queue_window(args.jobs, args.window, 4, 1),
    }
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; 'true' x{args.jobs}, 4 at once")
    for round_number in range(args.rounds):
        for name, run in runs.items():
            rate, window = run()
            print(
                f"  round {round_number + 1} {name:30s} {rate:7,.0f}/s  idle {window.idle:5.1%}"
                f"  stalled {window.stalled * 1e3:5.0f} ms/s"
                f"  first run {window.first_run_ms:.3f} ms"
            )


if __name__ == "__main__":
    main()
