"""What one process starting every job can reach: a bare loop, against ``xargs -P4``.

    python tests/bench/floor.py [--jobs 4000] [--work 0,100,200,270] [--rounds 3]

The loop does what a worker with four slots does to a job and nothing else: it
starts ``sh -c true`` as queuectl does (``posix_spawn``, a session of its own,
every signal at its default, output on a pipe), waits on the children's pidfds
with ``poll``, reaps and reads each, and then spends ``--work`` microseconds of
CPU in Python per job, standing in for everything else a worker does (its
database, its bookkeeping). Each round runs ``xargs -P4`` and the loop at every
work level in turn, so all see the same noise; medians are printed as ratios to
xargs, with the loop's own CPU per job and how long it waited for a core.

So it says how much of its own CPU a queue's worker may spend on each job and
still reach a given fraction of the spawn limit on this host: compare a
worker's CPU per job (``run.py``'s CPU row) with the row that spends as much.

A level ``W+S`` adds a process beside the loop that spends ``S`` µs of CPU per job
the loop ends, told over a pipe and never waited for until the last job: a
database server on the same cores (PostgreSQL's backend spends about 250 µs a
job), at its best, its work fully overlapped with the loop's. ``--work
270,310+250`` then bounds what any PostgreSQL worker can reach against a SQLite
one on this host. Never collected by pytest (``norecursedirs``).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import time

SLOTS = 4
_SIGNALS = [sig for sig in signal.valid_signals() if sig not in (signal.SIGKILL, signal.SIGSTOP)]


def _start(environment: dict[bytes, bytes]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, write_fd, 1),
        (os.POSIX_SPAWN_DUP2, write_fd, 2),
    ]
    pid = os.posix_spawn(
        "/bin/sh",
        ["sh", "-c", "true"],
        environment,
        file_actions=actions,
        setsigdef=_SIGNALS,
        setsigmask=(),
        setsid=True,
    )
    os.close(write_fd)
    return pid, read_fd


def _spend(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _beside(work: float) -> None:
    """The process beside the loop: ``work`` seconds of CPU per byte read, then ``done``."""
    while chunk := os.read(0, 4096):
        for _ in chunk:
            _spend(work)
    os.write(1, b"done")


def bare_loop(jobs: int, work: float, beside: float = 0.0) -> tuple[float, float, float]:
    """Jobs per second, the loop's CPU per job and its wait for a core per job (seconds);
    with ``beside``, a process spends that much CPU per job ended (``_beside``) and the
    time runs until it has caught up."""
    environment = dict(os.environb)
    server = None
    if beside:
        server = subprocess.Popen(
            [sys.executable, __file__, "--beside-only", str(beside)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
    poller = select.poll()
    running: dict[int, tuple[int, int]] = {}
    started = done = 0
    with open("/proc/self/schedstat") as handle:
        waited_before = int(handle.read().split()[1])
    cpu_before, start = time.process_time(), time.perf_counter()
    while done < jobs:
        while len(running) < SLOTS and started < jobs:
            pid, output = _start(environment)
            pidfd = os.pidfd_open(pid)
            running[pidfd] = (pid, output)
            poller.register(pidfd, select.POLLIN)
            started += 1
        for pidfd, _event in poller.poll():
            pid, output = running.pop(pidfd)
            poller.unregister(pidfd)
            os.waitpid(pid, 0)
            os.read(output, 65536)
            for fd in (pidfd, output):
                os.close(fd)
            done += 1
            _spend(work)
            if server is not None:
                os.write(server.stdin.fileno(), b"j")  # type: ignore[union-attr]
    if server is not None:
        server.stdin.close()  # type: ignore[union-attr]
        server.stdout.read()  # type: ignore[union-attr]
        server.wait()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    with open("/proc/self/schedstat") as handle:
        waited = (int(handle.read().split()[1]) - waited_before) / 1e9
    return jobs / elapsed, cpu / jobs, waited / jobs


def xargs_rate(jobs: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["sh", "-c", f"seq {jobs} | xargs -P {SLOTS} -n 1 sh -c true"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return jobs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument(
        "--work",
        default="0,100,200,270",
        help="µs of Python per job, listed; W+S adds S µs a job in a process beside the loop",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--beside-only", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.beside_only is not None:
        _beside(args.beside_only)
        return
    levels = args.work.split(",")
    limit: list[float] = []
    loops: dict[str, list[tuple[float, float, float]]] = {level: [] for level in levels}
    for _ in range(args.rounds):
        limit.append(xargs_rate(args.jobs))
        for level in levels:
            work, _plus, beside = level.partition("+")
            loops[level].append(bare_loop(args.jobs, int(work) / 1e6, int(beside or 0) / 1e6))
    xargs = statistics.median(limit)
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; 'true' x{args.jobs}, 4 at once")
    print(f"  xargs -P4                       {xargs:7,.0f}/s")
    for level, runs in loops.items():
        rate = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        waited = statistics.median(run[2] for run in runs)
        print(
            f"  bare loop, {level:>7} µs of work a job {rate:7,.0f}/s  {rate / xargs:.2f}x xargs;"
            f" its CPU {cpu * 1e3:.3f} ms a job, waiting for a core {waited * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
