"""SIGTERM, SIGINT and SIGHUP reach a worker at every phase of its loop; no job is left wrong.

The worker runs in this process (``Worker.run`` with its real signal handlers)
and the signal is a real one, sent to our own pid at a chosen moment: while
idle, just before and just after the claim, while the job runs (the job itself
sends it) and while the result is being recorded. One signal is a graceful
stop; two are a forced one. Whatever the moment, the job ends completed, or
back to pending with its attempt given back, with a Run row for every attempt,
never stuck in ``processing``; the next job is never taken.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, reads
from queuectl.runtime.waiters import make_waiter
from queuectl.runtime.worker import Worker
from queuectl.store.models import Job, JobState, RunOutcome, WorkerState
from queuectl.store.models import Worker as WorkerRow

SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
PHASES = ["idle", "claiming", "claimed", "running", "recording"]


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """``Worker.run`` installs handlers in this (pytest's) process; put pytest's back."""
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


class ObservedWorker(Worker):
    """A real worker that also drops a file per signal handled, for jobs to wait on."""

    def __init__(self, flags: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.flags = flags
        self.handled = 0

    def _on_signal(self, signum: int, frame: object) -> None:
        super()._on_signal(signum, frame)
        self.handled += 1
        (self.flags / f"signal{self.handled}").touch()


class SignalOnFirstWait:
    """Wraps the real waiter: the first idle wait receives the signals."""

    def __init__(self, inner, send) -> None:
        self.inner = inner
        self.send = send
        self.sent = False

    def wait(self, timeout, interrupted):
        if not self.sent:
            self.sent = True
            self.send()
        return self.inner.wait(timeout, interrupted)

    def close(self) -> None:
        self.inner.close()

    def after_outage(self) -> None:
        self.inner.after_outage()


def _wait_for_flag(flags: Path, number: int) -> str:
    return f"while [ ! -e {flags}/signal{number} ]; do sleep 0.01; done"


@pytest.mark.parametrize("forced", [False, True], ids=["graceful", "forced"])
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_at_any_phase_leaves_the_job_correct(
    opened, tmp_path, monkeypatch, signum, phase, forced
):
    flags = tmp_path / "flags"
    flags.mkdir()
    pid = os.getpid()
    count = 2 if forced else 1

    def send() -> None:
        for _ in range(count):
            os.kill(pid, signum)  # the handler runs before os.kill returns to us

    if phase == "running":
        steps = [f"kill -{signum.name[3:]} {pid}", _wait_for_flag(flags, 1)]
        if forced:
            steps += [f"kill -{signum.name[3:]} {pid}", _wait_for_flag(flags, 2), "sleep 30"]
        command = "; ".join([*steps, "echo done"])
    elif forced and phase in ("claiming", "claimed"):
        command = "sleep 30; echo done"
    else:
        command = "echo done"
    delay = 3600 if phase == "idle" else None
    job_id = enqueuing.enqueue(
        JobSpec(command=command, priority=9, delay=delay), cwd=str(tmp_path)
    ).id
    next_id = enqueuing.enqueue(JobSpec(command="echo next", delay=delay), cwd=str(tmp_path)).id

    # Hook the two calls the loop takes jobs with: the claim of an idle worker,
    # and the end of an attempt, which records it and claims the next job.
    def around_claim(real):
        def claim(*args, **kwargs):
            if phase == "claiming":
                send()
            result = real(*args, **kwargs)
            if phase == "claimed" and result is not None:
                send()
            return result

        return claim

    def around_complete(real):
        def complete_attempt(*args, **kwargs):
            if phase == "recording":
                send()
            done = real(*args, **kwargs)
            if phase == "claimed" and done.next is not None:
                send()
            return done

        return complete_attempt

    monkeypatch.setattr(claiming, "claim", around_claim(claiming.claim))
    monkeypatch.setattr(finish, "complete_attempt", around_complete(finish.complete_attempt))
    waiter = make_waiter()
    if phase == "idle":
        waiter = SignalOnFirstWait(waiter, send)
    worker = ObservedWorker(flags, kill_grace=1.0, waiter=waiter)

    assert worker.run() == 0
    assert worker.handled == count
    row = WorkerRow.get_by_id(worker.id)
    assert (row.state, row.current_job) == (WorkerState.STOPPED, None)

    job = Job.get_by_id(job_id)
    outcomes = [run.outcome for run in reads.runs_of(job_id)]
    assert all(run.finished_at is not None for run in reads.runs_of(job_id))
    if phase == "idle":
        expected = (JobState.PENDING, 0, [])
    elif forced and phase != "recording":
        expected = (JobState.PENDING, 0, [RunOutcome.INTERRUPTED])
    else:
        expected = (JobState.COMPLETED, 1, [RunOutcome.SUCCEEDED])
    assert (job.state, job.attempts, outcomes) == expected, job.last_error
    if job.state == JobState.COMPLETED:
        assert job.output == "done\n"
    # A stopping worker takes no new job.
    untouched = Job.get_by_id(next_id)
    assert (untouched.state, untouched.attempts, reads.runs_of(next_id)) == (
        JobState.PENDING,
        0,
        [],
    )
    assert not Job.select().where(Job.state == JobState.PROCESSING.value).exists()
