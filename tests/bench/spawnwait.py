"""How long starting a job holds its caller, on an idle machine and on a busy one.

    python tests/bench/spawnwait.py [--spawns 400] [--load 3]

glibc's ``posix_spawn`` is a ``vfork``: the caller sleeps until the child has
exec'd, with the GIL held (CPython does not release it around the call). The
child must first be scheduled, so the wait grows with what else wants the
cores: this is what bounds one worker running several jobs at once
(``--slots``), whose one thread starts every job (README, Performance). The
load is shells starting ``/bin/true`` in a loop, each in a session of its own,
as queuectl's jobs are. Also printed: the CPU one ``sh -c true`` costs its
child, the per-job floor shared by queuectl and the ``xargs`` limit.
Never collected by pytest (``norecursedirs``).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import time

from queuectl.runtime import spawn


def spawn_waits(spawns: int) -> tuple[list[float], float]:
    """Seconds each start of ``sh -c true`` held us, through the worker's own ``spawn.spawn``
    (a session of its own, every signal at its default, output on a pipe), and the
    children's CPU per start."""
    environment = dict(os.environb)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    waits = []
    for _ in range(spawns):
        start = time.perf_counter()
        child = spawn.spawn(["/bin/sh", "-c", "true"], cwd=None, env=environment)
        waits.append(time.perf_counter() - start)
        os.close(child.output_fd)
        os.waitpid(child.pid, 0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return waits, cpu / spawns


def report(label: str, waits: list[float], cpu: float) -> None:
    ordered = sorted(waits)
    p95 = ordered[int(len(ordered) * 0.95)]
    print(
        f"  {label:34s} wait p50 {statistics.median(waits) * 1000:.3f} ms,"
        f" mean {statistics.fmean(waits) * 1000:.3f} ms, p95 {p95 * 1000:.3f} ms;"
        f" child CPU {cpu * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=400)
    parser.add_argument("--load", type=int, default=3, help="busy shells beside the spawner")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}:")
    report("idle machine", *spawn_waits(args.spawns))
    loops = [
        subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"], start_new_session=True)
        for _ in range(args.load)
    ]
    try:
        time.sleep(0.3)
        report(f"beside {args.load} shells starting /bin/true", *spawn_waits(args.spawns))
    finally:
        for loop in loops:
            os.killpg(loop.pid, signal.SIGKILL)
            loop.wait()


if __name__ == "__main__":
    main()
