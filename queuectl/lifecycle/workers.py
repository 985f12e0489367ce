"""A worker's row: registered, heartbeating, reporting, asked to stop, and when it is lost.

The worker process keeps its own row through a ``Registration`` (one
transaction per change; the row rides along in the transaction that records a
job, see ``finish.complete_attempt``). Everyone else reads rows, asks workers
to stop (``ask_to_stop``), and judges them with ``is_lost``.

A worker row says what the worker last wrote about itself. A worker killed
with ``kill -9`` (or on a host that vanished) wrote nothing more: its row still
says ``busy`` or ``idle``. Recovery, ``status``, ``worker list``, the
supervisor and the dashboard must agree on when such a row stops meaning
"alive", so they all ask ``is_lost``: the one home of the rule.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import peewee

from queuectl.errors import QueueError
from queuectl.hostid import pid_alive, this_host
from queuectl.lifecycle import settings
from queuectl.lifecycle.reads import latest_running_job, list_workers, running_per_worker
from queuectl.states import ENDED_WORKER_STATES, RunOutcome, WorkerState
from queuectl.store import db, sql
from queuectl.store.boundary import translated
from queuectl.store.models import Worker, database
from queuectl.store.transactions import execute_raw, write_transaction

if TYPE_CHECKING:
    from queuectl.lifecycle.claim import Claim
    from queuectl.store.sqlitefile import Gone

GRACEFUL = "graceful"
"""A stop request that lets the current job finish (``stop_requested``)."""
FORCE = "force"
"""A stop request that kills the current job and gives its attempt back."""

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ENDED = [state.value for state in ENDED_WORKER_STATES]


class WorkerIdTaken(QueueError):
    """Another live worker already registered under the requested id."""


def new_worker_id() -> str:
    """``w`` and 6 random characters: short enough to type, unique in practice (30 bits);
    the insert at registration proves it."""
    return "w" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


# --- the rule -------------------------------------------------------------------------


def heartbeat_interval(lease_seconds: float) -> float:
    """Seconds between a worker's heartbeats: several per lease, so one slow write never
    makes it look dead."""
    return max(0.1, lease_seconds / 4)


def retry_cap(lease_seconds: float) -> float:
    """The longest pause between a worker's retries while the database is away.

    A heartbeat interval at most, so that when the database returns every worker
    heartbeats before a sibling could judge it lost: the first thing a worker does
    once its heartbeat is a lease old (``Timers.missed_beats``) is beat."""
    return min(5.0, heartbeat_interval(lease_seconds))


def answer_within(lease_seconds: float) -> float:
    """How long a live worker can stay silent once the database is reachable again:
    two of its tries (``retry_cap``), for a first that came too early (a server still
    starting) or went to recording a job's end, which comes before the heartbeat."""
    return 2 * retry_cap(lease_seconds)


class WorkerFacts(Protocol):
    """What the rule reads of a worker row (a ``models.Worker``, or a partial select of one)."""

    state: str
    pid: int
    host: str
    heartbeat_at: float


def is_lost(
    worker: WorkerFacts,
    *,
    now: float,
    lease_seconds: float,
    host: str | None = None,
    pid_alive: Callable[[int], bool] | None = None,
) -> bool:
    """Whether a worker that never said it stopped is dead.

    It is when its heartbeat is older than ``lease_seconds`` or, when the
    caller runs on ``host`` and can check pids there (``pid_alive``), when its
    process is gone. A worker already marked stopped or lost is not "lost"
    again: it has ended.
    """
    if worker.state in ENDED_WORKER_STATES:
        return False
    if worker.heartbeat_at < now - lease_seconds:
        return True
    return (
        host is not None
        and pid_alive is not None
        and worker.host == host
        and not pid_alive(worker.pid)
    )


def lost_by_heartbeat_alone(
    worker: WorkerFacts,
    *,
    now: float,
    lease_seconds: float,
    host: str,
    pid_alive: Callable[[int], bool] = pid_alive,
) -> bool:
    """Whether ``is_lost`` says lost only because the heartbeat is old: a worker on
    another host, or one on this host whose process is still there. An outage of the
    database silences every worker alike, so this alone is what it can explain."""
    return is_lost(worker, now=now, lease_seconds=lease_seconds) and not is_lost(
        worker, now=now, lease_seconds=math.inf, host=host, pid_alive=pid_alive
    )


def shown_state(
    worker: WorkerFacts,
    *,
    now: float,
    lease_seconds: float,
    host: str | None = None,
    pid_alive: Callable[[int], bool] | None = None,
) -> str:
    """The state to show: the stored one, or ``lost`` once ``is_lost`` says so.

    Recovery writes ``lost`` into the row when it requeues the worker's job;
    until a live worker does that (there may be none), the row is shown lost
    anyway.
    """
    lost = is_lost(worker, now=now, lease_seconds=lease_seconds, host=host, pid_alive=pid_alive)
    return WorkerState.LOST.value if lost else str(worker.state)


@translated
def workers_as_seen(
    *, include_ended: bool = False, ended_since: float | None = None, now: float | None = None
) -> list[Worker]:
    """Worker rows as this host sees them now: ``state`` is ``lost`` for dead ones.

    The rows are read, not changed (recovery changes them); only their
    ``state`` attribute is set to what ``shown_state`` says, so every view
    built from them agrees, and ``slots_busy`` to how many jobs each runs now
    (its slots in use, out of ``slots``). Live workers come first, in start order.

    Args:
        include_ended: also the stopped and lost ones (``--all``).
        ended_since: with ``include_ended``, only those that ended after this
            epoch time (stopped workers pile up over weeks of restarts).
    """
    now = time.time() if now is None else now
    lease = float(settings.load()["lease_seconds"])
    host = this_host()
    rows = list_workers(include_stopped=include_ended, ended_since=ended_since)
    running = running_per_worker() if rows else {}
    for row in rows:
        row.state = shown_state(row, now=now, lease_seconds=lease, host=host, pid_alive=pid_alive)
        row.slots_busy = running.get(row.id, 0)
    # A worker's own row catches up with its jobs at most every half second (``finish``):
    # read just after a start, a slotted worker said idle, no job, with one slot busy.
    behind = [row for row in rows if row.slots_busy and row.state == WorkerState.IDLE.value]
    if behind:
        latest = latest_running_job([row.id for row in behind])
        for row in behind:
            row.state = WorkerState.BUSY.value
            row.current_job = row.current_job or latest.get(row.id)
    if not include_ended:
        rows = [row for row in rows if row.state not in ENDED_WORKER_STATES]
    return sorted(rows, key=lambda row: row.state in ENDED_WORKER_STATES)


def live_of(workers: Iterable[WorkerFacts]) -> list[WorkerFacts]:
    """The workers of ``workers_as_seen`` that are still running."""
    return [w for w in workers if w.state not in ENDED_WORKER_STATES]


def serving_of(workers: Iterable[WorkerFacts]) -> list[WorkerFacts]:
    """The ones of ``workers`` that take jobs: live and not asked to stop. One asked to
    stop takes none: it finishes what it runs and exits (a queue whose only worker was
    stopping, through a 40 s job, showed no warning while its next job waited)."""
    return [worker for worker in live_of(workers) if not getattr(worker, "stop_requested", None)]


def queues_served(workers: Iterable[WorkerFacts]) -> set[str]:
    """The queues ``serving_of(workers)`` take jobs from."""
    return {name for worker in serving_of(workers) for name in worker.queues.split(",")}


# --- a worker's own row ---------------------------------------------------------------


class Registration:
    """One worker process's row in the Worker table, written by that process alone.

    Besides the row's identity it keeps the jobs counted but not yet written
    (``unreported_done``/``unreported_failed``): a busy worker writes its row
    at most every so often (see ``finish.complete_attempt``), and every write
    adds them.

    Args:
        queues: the queues the worker takes jobs from.
        worker_id: a fixed id (the supervisor picks it to name the log file); random if None.
        slots: how many jobs the worker runs at once (shown by ``worker list``).
    """

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        *,
        worker_id: str | None = None,
        log_path: str | None = None,
        pid: int,
        host: str,
        slots: int = 1,
    ) -> None:
        self.slots = slots
        self.queues = tuple(dict.fromkeys(queues)) or ("default",)
        self.id = worker_id or new_worker_id()
        self.fixed_id = worker_id is not None
        self.pid = pid
        self.host = host
        self.log_path = log_path
        self.unreported_done = 0
        self.unreported_failed = 0

    @translated
    def register(self, now: float) -> None:
        """Insert the row (or take over an ended one with our fixed id).

        Raises:
            WorkerIdTaken: the fixed id belongs to a live worker.
        """
        fields = {
            "pid": self.pid,
            "host": self.host,
            "queues": ",".join(self.queues),
            "state": WorkerState.IDLE.value,
            "current_job": None,
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
            "jobs_done": 0,
            "jobs_failed": 0,
            "stop_requested": None,
            "log_path": self.log_path,
            "slots": self.slots,
        }
        for _ in range(5):
            with write_transaction():
                existing = Worker.get_or_none(Worker.id == self.id)
                if existing is None:
                    Worker.insert(id=self.id, **fields).execute()
                    return
                if self.fixed_id and existing.state in ENDED_WORKER_STATES:
                    Worker.update(fields).where(Worker.id == self.id).execute()
                    return
            if self.fixed_id:
                raise WorkerIdTaken(f"a live worker with id {self.id!r} is already registered")
            self.id = new_worker_id()
        raise QueueError("could not find a free worker id")  # pragma: no cover - 5 collisions

    @staticmethod
    def while_locked_out(callback: Callable[[], None] | None) -> None:
        """Have ``callback`` called between a write's tries for SQLite's lock while another
        process holds it (``db.on_lock_wait``); ``None`` to stop."""
        db.on_lock_wait(callback)

    def database_gone(self) -> Gone | None:
        """Why the database file this worker opened is no longer at its path, or ``None``
        (``db.gone_from_its_path``): looked at with each heartbeat."""
        return db.gone_from_its_path()

    @translated
    def heartbeat(self, now: float, *, state: WorkerState, job_id: str | None) -> bool:
        """Say we are alive, with our state, job and counts; ``False`` when the row was gone
        (recovery or a user removed it): the worker then registers again."""
        changed = (
            Worker.update(
                heartbeat_at=now,
                state=state.value,
                current_job=job_id,
                stopped_at=None,
                **self._counts_added(),
            )
            .where(Worker.id == self.id)
            .execute()
        )
        self.unreported_done = self.unreported_failed = 0
        return changed == 1

    def _counts_added(self) -> dict[str, peewee.Node]:
        """The row's done and failed counts with the unreported ones added, held at
        ``sql.COUNTER_MAX`` as the per-job statement holds them."""
        return {
            name: peewee.SQL(sql.saturating_add(name, amount))
            for name, amount in (
                ("jobs_done", self.unreported_done),
                ("jobs_failed", self.unreported_failed),
            )
        }

    @translated
    def mark_stopped(self, now: float) -> None:
        """The worker is leaving: ``stopped``, no job, every count written."""
        with write_transaction():
            Worker.update(
                state=WorkerState.STOPPED.value,
                stopped_at=now,
                current_job=None,
                heartbeat_at=now,
                **self._counts_added(),
            ).where(Worker.id == self.id).execute()
        self.unreported_done = self.unreported_failed = 0

    @translated
    def stop_request(self) -> str | None:
        """``graceful``, ``force`` or ``None``: what ``ask_to_stop`` wrote into the row."""
        row = Worker.select(Worker.stop_requested).where(Worker.id == self.id).first()
        request = row.stop_requested if row is not None else None
        return request if request in (GRACEFUL, FORCE) else None

    def counts_after(self, outcome: RunOutcome, *, recorded: bool) -> tuple[int, int]:
        """The unreported (done, failed) counts once an attempt with ``outcome`` is added;
        one not ``recorded`` (the job was no longer ours: another worker had recovered it
        from us, frozen past the lease) adds nothing: such a worker's FAILED counted jobs
        it never failed, killed by the worker that took them over."""
        if not recorded:
            return self.unreported_done, self.unreported_failed
        done = self.unreported_done + int(outcome is RunOutcome.SUCCEEDED)
        failed = self.unreported_failed + int(outcome in (RunOutcome.FAILED, RunOutcome.TIMED_OUT))
        return done, failed

    def report_locked(self, now: float, claim: Claim | None, done: int, failed: int) -> bool:
        """Write the row after a job, inside the caller's transaction: busy with the next
        job or idle, a heartbeat, and the counts (which the caller zeroes once the
        transaction committed). ``False`` when the row was gone."""
        after_job = sql.worker_after_job_sql(database.obj.param)
        values = {
            "state": WorkerState.BUSY.value if claim else WorkerState.IDLE.value,
            "job": claim.job.id if claim else None,
            "now": now,
            "done": done,
            "failed": failed,
            "worker": self.id,
        }
        cursor = execute_raw(after_job.text, after_job.params(values))
        return cursor.rowcount == 1

    @translated
    def someone_else_is_lost(
        self,
        now: float,
        *,
        lease_seconds: float,
        by_heartbeat: bool = True,
        pid_alive: Callable[[int], bool] = pid_alive,
    ) -> bool:
        """Whether another worker is lost: a read-only look, cheap enough to run every second.
        ``by_heartbeat=False``: only by its process being gone (``is_lost``)."""
        if not by_heartbeat:
            lease_seconds = math.inf
        query = Worker.select(
            Worker.id, Worker.state, Worker.pid, Worker.host, Worker.heartbeat_at
        ).where(Worker.state.not_in(_ENDED), Worker.id != self.id)
        return any(
            is_lost(row, now=now, lease_seconds=lease_seconds, host=self.host, pid_alive=pid_alive)
            for row in query
        )


# --- asking workers to stop -----------------------------------------------------------


@translated
def ask_to_stop(worker_ids: Sequence[str], *, force: bool = False) -> None:
    """Write a stop request into the rows; a forced request is never downgraded."""
    with write_transaction():
        if force:
            Worker.update(stop_requested=FORCE).where(Worker.id.in_(list(worker_ids))).execute()
        else:
            Worker.update(stop_requested=GRACEFUL).where(
                Worker.id.in_(list(worker_ids)),
                Worker.stop_requested.is_null() | (Worker.stop_requested != FORCE),
            ).execute()
