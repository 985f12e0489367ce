"""Recovery run by a person (``worker prune``, ``worker stop``, the dashboard) hears out
workers whose only sign of death is an old heartbeat, as the database may just be back.

Found by trying an outage from the outside: PostgreSQL stopped for longer than the lease,
then ``worker prune`` the moment it returned; every live worker's heartbeat was an outage
old, so the prune marked them lost and recovery threw away the results they were about to
record. Workers themselves already waited (``Timers.started``, ``missed_beats``).
"""

from __future__ import annotations

import threading
import time

import pytest

from queuectl.hostid import this_host
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads, settings
from queuectl.lifecycle.workers import answer_within
from queuectl.runtime import supervisor
from queuectl.states import JobState, WorkerState
from queuectl.store import db
from queuectl.store.models import Worker
from tests.test_queue import register

pytestmark = pytest.mark.usefixtures("opened")

DEAD_PID = 2**22 + 12345  # above pid_max's default: no process has it
SILENT_FOR = 60.0
"""Seconds since the worker's last heartbeat: past any lease the tests set."""


def _busy_worker(worker_id: str, *, host: str = "elsewhere", pid: int = 4242) -> str:
    """A worker, silent for ``SILENT_FOR`` seconds, running a job; returns the job's id."""
    then = time.time() - SILENT_FOR
    register(worker_id, heartbeat=then, pid=pid, host=host)
    job = enqueuing.enqueue(JobSpec(command="sleep 100"), now=then, cwd="/tmp")
    assert claiming.claim(worker_id, ("default",), host=host, now=then) is not None
    return job.id


def _beat_on_another_thread(worker_id: str) -> None:
    """The worker's first heartbeat once the database is back, from a connection of its own."""

    def beat() -> None:
        Worker.update(heartbeat_at=time.time()).where(Worker.id == worker_id).execute()
        db.close_database()

    threading.Thread(target=beat, daemon=True).start()


def test_a_worker_that_answers_within_the_wait_keeps_its_job():
    settings.set_value("lease_seconds", 8.0)
    job_id = _busy_worker("back")
    notes: list[str] = []

    def said(text: str) -> None:  # said as the wait begins: the worker answers during it
        notes.append(text)
        _beat_on_another_thread("back")

    started = time.monotonic()
    assert supervisor.recover_now(note=said) == []
    assert time.monotonic() - started < answer_within(8.0)  # ended by the heartbeat
    assert notes == [
        "1 worker silent past the lease (back): waiting up to 4s for a heartbeat, in case the"
        " database has just come back"
    ]
    assert reads.get_job(job_id).state == JobState.PROCESSING
    assert Worker.get_by_id("back").state == WorkerState.BUSY


def test_a_worker_still_silent_after_the_wait_is_recovered():
    settings.set_value("lease_seconds", 2.0)
    job_id = _busy_worker("gone")
    started = time.monotonic()
    assert supervisor.recover_now() == [job_id]
    assert time.monotonic() - started >= answer_within(2.0)
    assert Worker.get_by_id("gone").state == WorkerState.LOST
    assert [run.outcome for run in reads.runs_of(job_id)] == ["lost"]


def test_a_worker_whose_process_is_gone_on_this_host_is_recovered_without_a_wait():
    settings.set_value("lease_seconds", 8.0)
    job_id = _busy_worker("crashed", host=this_host(), pid=DEAD_PID)
    notes: list[str] = []
    started = time.monotonic()
    assert supervisor.recover_now(note=notes.append) == [job_id]
    assert notes == []
    assert time.monotonic() - started < answer_within(8.0)


def test_a_wait_cut_short_leaves_the_silent_worker_to_a_later_look():
    """``worker stop --timeout 1s``: its time is up before the worker could have answered,
    so it is not judged by its heartbeat (it would be, by a look with time to wait)."""
    settings.set_value("lease_seconds", 8.0)
    job_id = _busy_worker("back")
    assert supervisor.recover_now(patience=0.2) == []
    assert reads.get_job(job_id).state == JobState.PROCESSING
    assert Worker.get_by_id("back").state == WorkerState.BUSY


def test_a_job_sent_to_the_dlq_from_here_has_its_hook_named_not_run(tmp_path):
    """``worker prune`` ran a recovered job's own ``on_failure`` as whoever pruned: a
    command anyone who can enqueue may set, run as root by an admin's prune."""
    settings.set_value("lease_seconds", 8.0)
    ran = tmp_path / "hook-ran"
    then = time.time() - SILENT_FOR
    register("crashed", heartbeat=then, pid=DEAD_PID, host=this_host())
    spec = JobSpec(command="sleep 100", max_retries=0, on_failure=f"touch {ran}")
    job = enqueuing.enqueue(spec, now=then, cwd="/tmp")
    assert claiming.claim("crashed", ("default",), host=this_host(), now=then) is not None
    settings.set_value("on_success", f"touch {ran}")  # nor a hook set for every job
    notes: list[str] = []
    assert supervisor.recover_now(note=notes.append) == [job.id]
    assert reads.get_job(job.id).state == JobState.DEAD
    assert notes == [
        f"job {job.id} is dead; its on_failure hook was not run: only workers run hooks"
        " (here it would run as you)"
    ]
    assert not ran.exists()
