"""The dashboard over a day, compressed: memory under hundreds of rounds of use, and idle CPU.

    python tests/bench/soak.py [--rounds 150] [--idle-seconds 60] [--only use|idle]

**Use.** The real app, headless under Pilot, set up as ``queuectl tui`` runs it
(start-up heap frozen, a refresh a second, the real clock), on a database of
600 jobs in every state with workers, while jobs keep arriving and finishing.
Each round visits every pane and opens and closes every dialog and screen: help,
detail, new job, filter, sort, each confirmation, the worker prompt, the config
editor and its save / discard / stay question, the command palette, a resize.
The process's resident memory is read after a warm-up and ten times over the
run; the target is at most 40 MB of growth. Reactive watchers and DOM nodes are counted
too: both must end where they started.

**Idle.** ``queuectl tui`` itself in a pseudo-terminal at 160×45 over an
unchanging 600-job queue (the newest job an hour old), left alone: its CPU time
over ``--idle-seconds`` from ``/proc``; the target is at most 5% of a core. The
same is measured with 600 jobs enqueued a minute ago, whose ages tick every
second (every visible row redrawn every second), for comparison.

Not a test: it runs for minutes and prints figures (README, Dashboard section).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from queuectl.jobspec import JobSpec  # noqa: E402
from queuectl.lifecycle import enqueue as enqueuing  # noqa: E402
from queuectl.store import db  # noqa: E402
from queuectl.store.models import Job, Run, Worker  # noqa: E402
from tests.terminal import in_a_terminal  # noqa: E402

MEMORY_TARGET_MB = 40.0
IDLE_TARGET_PERCENT = 5.0
STATES = ("completed",) * 6 + ("dead", "failed", "cancelled", "pending")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, in MB, as ``ps -o rss`` reports it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(location: str, *, newest_age: float, workers: int = 0) -> None:
    """600 jobs, one a minute, the newest ``newest_age`` seconds old, in every state."""
    db.open_database(location)
    now = time.time()
    for index in range(600):
        created = now - newest_age - (599 - index) * 60
        spec = JobSpec(command=f"rsync -a /srv/data/{index}/ backup@nas:/data/{index}/")
        job = enqueuing.enqueue(spec, now=created, cwd="/srv")
        state = STATES[index % len(STATES)]
        if state != "pending":
            Job.update(
                state=state,
                attempts=1,
                started_at=created + 2,
                finished_at=created + 9,
                exit_code=0 if state == "completed" else 1,
                last_error=None if state == "completed" else "exit code 1",
            ).where(Job.id == job.id).execute()
            Run.insert(
                job=job.id,
                run=1,
                attempt=1,
                worker_id="w-soak",
                host="bench",
                started_at=created + 2,
                finished_at=created + 9,
                duration=7.0,
                outcome="succeeded" if state == "completed" else "failed",
                exit_code=0 if state == "completed" else 1,
                output="line\n" * 40,
            ).execute()
    for index in range(workers):
        Worker.insert(
            id=f"w-soak{index}",
            pid=40000 + index,
            host="bench",
            queues="default",
            state="idle",
            started_at=now - 3600,
            heartbeat_at=now,
        ).execute()
    db.close_database()


# --- use ------------------------------------------------------------------------------

ROUND: list[tuple[str, ...]] = [
    ("2", "j"),
    ("3",),
    ("4",),
    ("1", "G", "g"),
    ("question_mark", "end", "escape"),
    ("enter", "escape"),
    ("n", "escape"),
    ("c", "n"),
    ("d", "escape"),
    ("slash", "b", "enter", "slash", "ctrl+u", "enter"),
    ("o",),
    ("2", "enter", "escape", "p", "n", "R", "escape"),
    ("3", "s", "escape", "x", "n", "X", "n", "K", "escape"),
    ("4", "enter", "escape", "e", "backspace", "7", "enter"),
    ("1",),  # an unsaved edit: save / discard / stay comes up
    ("escape", "u", "1"),
    ("ctrl+p", "escape"),
]
"""One round of ordinary use; every key an operator presses in a day, most of them often."""


def watchers_and_nodes(app: Any) -> tuple[int, int]:
    """Reactive watcher entries (Textual keeps them in ``__watchers``) and DOM nodes."""
    nodes = list(app.screen_stack[0].walk_children(with_self=True))
    watchers = sum(
        len(callbacks)
        for node in [app, *nodes]
        for callbacks in getattr(node, "__watchers", {}).values()
    )
    return watchers, len(nodes)


async def _use(location: str, rounds: int) -> dict[str, Any]:
    from tui.app import make_app

    app = make_app(location, freeze_startup_heap=True)
    samples: list[tuple[int, float]] = []
    started = time.monotonic()
    async with app.run_test(size=(120, 32)) as pilot:
        while app.refresh_count < 2:
            await pilot.pause(0.05)
        warmup = min(20, rounds // 5)
        first: tuple[int, int] = (0, 0)
        for number in range(1, rounds + 1):
            for keys in ROUND:
                await pilot.press(*keys)
            if number % 3 == 0:
                await pilot.resize_terminal(80 if number % 2 else 160, 24 if number % 2 else 45)
                await pilot.pause()
                await pilot.resize_terminal(120, 32)
            _traffic(number)
            while len(app.screen_stack) > 1:
                # A job form with something typed asks before esc discards it; its
                # question's own esc goes back to the form, so only "y" leaves.
                await pilot.press("y" if _asks_to_discard(app.screen) else "escape")
            if number == warmup:
                await pilot.pause(1.2)  # a refresh or two, so the tables are full again
                gc.collect()
                first = watchers_and_nodes(app)
                samples.append((number, rss_mb()))
            elif number > warmup and (number % max(10, rounds // 10) == 0 or number == rounds):
                await pilot.pause(1.2)
                gc.collect()
                samples.append((number, rss_mb()))
                print(f"  round {number:4d}: {samples[-1][1]:6.1f} MB", flush=True)
        last = watchers_and_nodes(app)
        refreshes = app.refresh_count
    gc.unfreeze()
    return {
        "samples": samples,
        "first": first,
        "last": last,
        "refreshes": refreshes,
        "seconds": time.monotonic() - started,
    }


def _asks_to_discard(screen: Any) -> bool:
    """Whether ``screen`` asks whether to throw away a job form's typing."""
    from tui.screens.confirm import ConfirmScreen

    return isinstance(screen, ConfirmScreen) and screen.question.startswith("Discard")


def _traffic(number: int) -> None:
    """Jobs keep flowing: five arrive, the five before them finish."""
    now = time.time()
    enqueuing.enqueue_many(
        [JobSpec(command=f"echo round {number} job {i}") for i in range(5)], now=now, cwd="/"
    )
    newest = Job.select(Job.id).where(Job.state == "pending").order_by(Job.created_at.desc())
    ids = [job.id for job in newest.limit(10)][5:]
    Job.update(state="completed", started_at=now - 1, finished_at=now, exit_code=0).where(
        Job.id.in_(ids)
    ).execute()


def use(rounds: int) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        location = os.path.join(scratch, "soak.db")
        seed(location, newest_age=60, workers=3)
        db.open_database(location)
        print(f"use: {rounds} rounds of {sum(map(len, ROUND))} keys at 120x32 (resizes too)")
        result = asyncio.run(_use(location, rounds))
        db.close_database()
    (start_round, start), (_, end) = result["samples"][0], result["samples"][-1]
    peak = max(mb for _, mb in result["samples"])
    growth = end - start
    print(
        f"  memory: {start:.1f} MB after round {start_round} -> {end:.1f} MB after round"
        f" {rounds} (peak {peak:.1f}): grew {growth:+.1f} MB (target <= {MEMORY_TARGET_MB:.0f})"
    )
    print(
        f"  watchers, DOM nodes: {result['first']} after the warm-up -> {result['last']} at"
        f" the end; {result['refreshes']} refreshes in {result['seconds']:.0f} s"
    )
    return growth <= MEMORY_TARGET_MB and result["first"] == result["last"]


# --- idle -----------------------------------------------------------------------------


def idle_cpu(location: str, size: tuple[int, int], seconds: float) -> tuple[float, float]:
    """``queuectl tui`` in a pseudo-terminal of ``size``: its share of a core and its RSS."""
    columns, rows = size
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    process, leader = in_a_terminal(
        ["--db", location, "tui"], columns=columns, rows=rows, env=env, cwd=str(ROOT)
    )
    done = threading.Event()

    def drain() -> None:  # a terminal that reads everything, as a real one does
        while not done.is_set():
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    if not os.read(leader, 65536):
                        return
                except OSError:
                    return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        time.sleep(8)  # start-up and the first refreshes are not idle
        cpu, wall = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        share = 100 * (cpu_seconds(process.pid) - cpu) / (time.monotonic() - wall)
        memory = rss_mb(process.pid)
    finally:
        os.write(leader, b"q")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        done.set()
        reader.join(timeout=2)
        os.close(leader)
    return share, memory


def idle(seconds: float) -> bool:
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, newest_age in (("unchanging", 3600.0), ("ticking", 60.0)):
            location = os.path.join(scratch, f"{name}.db")
            seed(location, newest_age=newest_age)
            results[name] = idle_cpu(location, (160, 45), seconds)
    share, memory = results["unchanging"]
    print(
        f"idle: 160x45, 600 jobs, newest an hour old, {seconds:.0f} s: {share:.1f}% of a core"
        f" (target <= {IDLE_TARGET_PERCENT:.0f}%), RSS {memory:.0f} MB"
    )
    ticking, ticking_memory = results["ticking"]
    print(
        f"      the same with the newest a minute old (ages tick every second): {ticking:.1f}%"
        f" of a core, RSS {ticking_memory:.0f} MB"
    )
    return share <= IDLE_TARGET_PERCENT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--only", choices=("use", "idle"))
    args = parser.parse_args()
    ok = True
    if args.only in (None, "use"):
        ok &= use(args.rounds)
    if args.only in (None, "idle"):
        ok &= idle(args.idle_seconds)
    print("targets met" if ok else "TARGET MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
