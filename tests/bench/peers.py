"""The same trivial jobs on the pure process-spawn limit and on peer queues.

Each function returns the wall time (seconds) from the first enqueue to the
last finish, or raises ``Skip`` with a note when the tool is not installed.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time


class Skip(Exception):
    """The peer is not installed here; the message says how to get it."""


def xargs_limit(jobs: int, workers: int, command: str) -> tuple[float, float]:
    """``seq N | xargs -P W -n 1 sh -c CMD``: only process spawns, no queue at all.

    Returns the wall seconds and the CPU seconds of the whole pipeline (xargs and
    every shell it started: all reaped children).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        f"seq {jobs} | xargs -P {workers} -n 1 sh -c '{command}'",
        shell=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def task_spooler(jobs: int, workers: int, command: str) -> float:
    """task-spooler with ``workers`` slots, on a private socket; jobs added by a shell loop.

    ``tsp`` keeps one waiting client process per queued job, so ``TS_MAXCONN``
    is raised above the job count (its default, 1000, would block the loop).
    """
    tsp = shutil.which("tsp") or shutil.which("ts")
    if tsp is None or "spooler" not in _help(tsp):
        raise Skip("task-spooler not installed (apt-get install task-spooler)")
    with tempfile.TemporaryDirectory(prefix="bench-tsp-") as tmp:
        env = {
            **os.environ,
            "TS_SOCKET": os.path.join(tmp, "socket"),
            "TMPDIR": tmp,
            "TS_MAXCONN": str(jobs + 100),
            "TS_MAXFINISHED": "10",
        }
        subprocess.run([tsp, "-S", str(workers)], env=env, check=True)
        try:
            start = time.perf_counter()
            subprocess.run(
                f"for i in $(seq {jobs}); do \"{tsp}\" -n sh -c '{command}' >/dev/null; done",
                shell=True,
                env=env,
                check=True,
            )
            while True:
                listing = subprocess.run(
                    [tsp, "-l"], env=env, capture_output=True, text=True, check=True
                ).stdout
                if " running " not in listing and " queued " not in listing:
                    break
                time.sleep(0.01)
            return time.perf_counter() - start
        finally:
            subprocess.run([tsp, "-K"], env=env, check=False, capture_output=True)


def _help(tool: str) -> str:
    result = subprocess.run([tool, "-h"], capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).lower()


HUEY_MODULE = textwrap.dedent(
    """
    import os
    import subprocess

    from huey import SqliteHuey

    huey = SqliteHuey(filename=os.environ["BENCH_HUEY_DB"])


    @huey.task()
    def run(command):
        return subprocess.run(command, shell=True).returncode
    """
)


HUEY_POLL = ("-d", "0.01", "-m", "0.1", "-q", "-n")
"""Poll every 10 ms, backing off to 100 ms; quiet; no periodic tasks."""


def huey_sqlite(jobs: int, workers: int, command: str) -> float:
    """huey's SqliteHuey, one consumer with ``workers`` worker processes.

    The consumer polls; its delay is set to 10 ms (backing off to 100 ms when
    idle) instead of the default 100 ms → 10 s, which would only make huey look
    worse. Tasks are enqueued one by one, as huey's API does.
    """
    consumer = shutil.which("huey_consumer") or os.path.join(
        os.path.dirname(sys.executable), "huey_consumer"
    )
    try:
        import huey  # noqa: F401
    except ImportError:
        raise Skip("huey not installed (pip install huey into the bench venv)") from None
    if not os.path.exists(consumer):
        raise Skip("huey_consumer not found next to this Python")
    with tempfile.TemporaryDirectory(prefix="bench-huey-") as tmp:
        module_name = f"bench_hueyjobs_{os.getpid()}_{int(time.time() * 1e6)}"
        with open(os.path.join(tmp, f"{module_name}.py"), "w") as handle:
            handle.write(HUEY_MODULE)
        env = {**os.environ, "BENCH_HUEY_DB": os.path.join(tmp, "huey.db"), "PYTHONPATH": tmp}
        os.environ["BENCH_HUEY_DB"] = env["BENCH_HUEY_DB"]
        sys.path.insert(0, tmp)
        proc = subprocess.Popen(
            [consumer, f"{module_name}.huey", "-w", str(workers), "-k", "process", *HUEY_POLL],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            module = __import__(module_name)
            time.sleep(1.5)  # consumer and its workers up, idle
            start = time.perf_counter()
            for _ in range(jobs):
                module.run(command)
            storage = module.huey.storage
            while storage.result_store_size() < jobs:
                if proc.poll() is not None:
                    raise RuntimeError("huey consumer exited")
                time.sleep(0.01)
            return time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            sys.path.remove(tmp)
            sys.modules.pop(module_name, None)
