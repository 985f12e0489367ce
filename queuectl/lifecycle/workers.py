"""When a worker counts as lost: the one rule that recovery, the CLI and the dashboard share.

A worker row says what the worker last wrote about itself. A worker killed
with ``kill -9`` (or on a host that vanished) wrote nothing more: its row still
says ``busy`` or ``idle``. Recovery, ``status``, ``worker list`` and the
dashboard must agree on when such a row stops meaning "alive", so they all ask
``is_lost``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from queuectl.states import ENDED_WORKER_STATES, WorkerState


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


def workers_as_seen(
    *, include_ended: bool = False, ended_since: float | None = None, now: float | None = None
) -> list:
    """Worker rows as this host sees them now: ``state`` is ``lost`` for dead ones.

    The rows are read, not changed (recovery changes them); only their
    ``state`` attribute is set to what ``shown_state`` says, so every view
    built from them agrees. Live workers come first, in start order.

    Args:
        include_ended: also the stopped and lost ones (``--all``).
        ended_since: with ``include_ended``, only those that ended after this
            epoch time (stopped workers pile up over weeks of restarts).
    """
    from queuectl import config
    from queuectl.hostid import this_host
    from queuectl.lifecycle.reads import list_workers
    from queuectl.runtime import procs

    now = time.time() if now is None else now
    lease = float(config.load()["lease_seconds"])
    host = this_host()
    rows = list_workers(include_stopped=include_ended, ended_since=ended_since)
    for row in rows:
        row.state = shown_state(
            row, now=now, lease_seconds=lease, host=host, pid_alive=procs.pid_alive
        )
    if not include_ended:
        rows = [row for row in rows if row.state not in ENDED_WORKER_STATES]
    return sorted(rows, key=lambda row: row.state in ENDED_WORKER_STATES)


def live(workers: Iterable[WorkerFacts]) -> list[WorkerFacts]:
    """The workers of ``workers_as_seen`` that are still running."""
    return [w for w in workers if w.state not in ENDED_WORKER_STATES]
