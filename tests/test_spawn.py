"""How a job's process starts (spawn) and how it dies with its worker (watchdog)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from queuectl.hostid import pid_alive
from queuectl.lifecycle.policy import Result
from queuectl.runtime import executor, procs, spawn
from queuectl.runtime.watchdog import Watchdog
from queuectl.states import RunOutcome
from tests.executing import run_to_end
from tests.polling import wait_until


def _run(command: str, cwd: str) -> Result:
    return run_to_end(command, cwd=cwd)


def test_a_job_inherits_no_descriptor_but_its_three_streams(tmp_path):
    leaked_read, leaked_write = os.pipe()
    os.set_inheritable(leaked_read, True)  # as if the worker had been started with it
    try:
        spawn._sealed = False  # the seal runs once per process; run it again for this one
        result = _run("ls /proc/$$/fd", str(tmp_path))
    finally:
        os.close(leaked_read)
        os.close(leaked_write)
    assert sorted(int(fd) for fd in result.output.split()) == [0, 1, 2]


def test_a_job_ignores_no_signal_the_worker_ignores(tmp_path):
    # Python ignores SIGPIPE and SIGXFSZ; were that inherited, `yes | head` would
    # end with "yes: Broken pipe" instead of a quiet SIGPIPE, as in a terminal.
    result = _run("yes | head -n 1; grep SigIgn /proc/$$/status", str(tmp_path))
    first, mask_line = result.output.splitlines()
    assert first == "y"
    mask = int(mask_line.split()[1], 16)
    ignored = {number for number in signal.valid_signals() if mask & (1 << (int(number) - 1))}
    # (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored;
    # valid_signals() leaves them out, as no program may use them but glibc itself.)
    assert ignored == set()


def _signal_set(status: str, field: str) -> set[int]:
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    mask = int(line.split()[1], 16)
    return {number for number in signal.valid_signals() if mask & (1 << (int(number) - 1))}


def test_a_job_starts_with_default_signals_whatever_the_worker_inherited(tmp_path):
    """A worker started in the background (``&``, nohup, a CI wrapper) inherits SIGINT and
    SIGQUIT ignored, or a blocked mask; none of it may reach its jobs."""
    inherited = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR2)
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in inherited}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    try:
        # ``exec``: the job's own process reads its own status. ``cat /proc/$$/status``
        # read the shell's while it forked cat, with every signal blocked for the fork.
        result = _run("exec cat /proc/self/status", str(tmp_path))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for sig, handler in before.items():
            signal.signal(sig, handler)
    masks = [line for line in result.output.splitlines() if line.startswith("Sig")]
    assert _signal_set(result.output, "SigIgn") == set(), masks
    assert _signal_set(result.output, "SigBlk") == set(), masks


def test_a_job_runs_in_a_session_and_group_of_its_own(tmp_path):
    started = executor.Execution.start("sleep 5", cwd=str(tmp_path))
    assert isinstance(started, executor.Execution)
    try:
        assert os.getpgid(started.pid) == started.pid
        assert os.getsid(started.pid) == started.pid
    finally:
        started.abandon()
    assert not pid_alive(started.pid)


def test_the_worker_directory_is_unchanged_by_a_job_in_another(tmp_path):
    before = os.getcwd()
    result = _run("pwd", str(tmp_path))
    assert result.output.strip() == os.path.realpath(tmp_path)
    assert os.getcwd() == before


def test_a_directory_that_cannot_be_entered_is_a_failed_result(tmp_path):
    plain_file = tmp_path / "file"
    plain_file.write_text("")
    result = _run("true", str(plain_file))
    assert result.outcome is RunOutcome.FAILED
    assert "does not exist (or is not a directory)" in result.error


def test_without_posix_spawn_setsid_the_job_still_gets_its_own_group(tmp_path, monkeypatch):
    real = os.posix_spawn

    def no_setsid(*args, **kwargs):
        if kwargs.get("setsid"):
            raise NotImplementedError("no POSIX_SPAWN_SETSID")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "posix_spawn", no_setsid)
    monkeypatch.setattr(spawn, "_session", {"setsid": True})
    started = executor.Execution.start("sleep 5", cwd=str(tmp_path))
    assert isinstance(started, executor.Execution)
    try:
        assert os.getpgid(started.pid) == started.pid
        assert spawn._session == {"setpgroup": 0}
    finally:
        started.abandon()


# --- the watchdog -----------------------------------------------------------------------

# A stand-in worker: starts a watchdog and a job, tells the watchdog, prints both pids,
# then waits to be killed. Run as a real process so that "the worker dies" is real.
FAKE_WORKER = textwrap.dedent(
    """
    import sys, time
    from queuectl.runtime import executor
    from queuectl.runtime.watchdog import Watchdog

    watchdog = Watchdog()
    watchdog.start()
    job = executor.Execution.start(sys.argv[1], cwd="/", watchdog=watchdog)
    print(job.pgid, watchdog.pid, flush=True)
    if sys.argv[2] == "finish":
        while not job.pump(0.1):
            pass
        print("finished", flush=True)
    time.sleep(60)
    """
)


def _fake_worker(command: str, mode: str) -> tuple[subprocess.Popen[str], int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_WORKER, command, mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.stdout is not None
    pgid, watchdog = (int(word) for word in proc.stdout.readline().split())
    return proc, pgid, watchdog


def test_the_watchdog_kills_the_whole_group_when_the_worker_is_killed():
    proc, pgid, watchdog = _fake_worker("sleep 60 & sleep 60", "hold")
    try:
        assert wait_until(lambda: len(procs.group_members(pgid)) >= 2, 5)  # sh and its sleeps
        proc.kill()
        proc.wait(timeout=5)
        assert wait_until(lambda: not procs.group_alive(pgid), 5), "the job outlived its worker"
        assert wait_until(lambda: not pid_alive(watchdog), 5)
    finally:
        proc.kill()
        procs.kill_group(pgid)


def test_the_watchdog_leaves_other_processes_alone_once_the_job_is_over():
    proc, _, _ = _fake_worker("true", "finish")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "finished"
    # Pretend the finished job's pgid was taken by an innocent process group:
    # the watchdog was told the job is over, so it must not touch it.
    innocent = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        proc.kill()
        proc.wait(timeout=5)
        with pytest.raises(subprocess.TimeoutExpired):
            innocent.wait(timeout=0.5)
    finally:
        innocent.kill()
        innocent.wait()


def test_a_dead_watchdog_is_replaced_when_checked(tmp_path):
    watchdog = Watchdog()
    watchdog.start()
    first = watchdog.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(first), 5)
    watchdog.check()  # what a worker does at each heartbeat
    result = run_to_end("echo ok", cwd=str(tmp_path), watchdog=watchdog)
    assert result.output == "ok\n"
    assert watchdog.pid not in (None, first)
    replacement = watchdog.pid
    watchdog.close()
    assert not pid_alive(replacement)  # reaped, not left a zombie
