"""Enforce jobs' timeouts when the worker's loop cannot: a backstop thread.

The loop enforces a timeout itself (``Execution.pump``), between its database
calls. A call that does not return holds the loop up: a PostgreSQL server that
hangs instead of refusing (frozen, or a network that drops packets), and a job
given a 2 s timeout ran on for the whole wait (16 s and more, measured). So each
job with a timeout is also handed to one thread per worker, which sleeps until
the earliest deadline plus ``LATE`` and, if the loop has still not acted, stops
the job's process group itself: SIGTERM, then SIGKILL after the job's grace.
When the loop resumes it finds the job ended, times out the attempt as it always
does, and records when it was stopped, not when it noticed.

The thread starts with the first job that has a timeout (most have none: the
default is no timeout), sends only signals, and touches no database.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from queuectl.runtime.procs import kill_group

log = logging.getLogger("queuectl.worker")

LATE = 0.5
"""Seconds past a deadline before the thread steps in: the loop, unless held up,
enforces it within a tenth of a second, and two killers racing would only
confuse what the attempt says about its end."""


class Overdue(Protocol):
    """What the thread needs of a running job (``executor.Execution`` is one)."""

    pgid: int
    deadline: float | None
    grace: float
    job_name: str

    def is_handled(self) -> bool:
        """Whether the loop has acted on the job's end or its timeout already."""
        ...

    def stopped_by_timekeeper(self, at: float) -> None:
        """Note (from this thread) that the timeout was enforced here, at ``at``."""
        ...


@dataclass
class _Watch:
    execution: Overdue
    deadline: float
    kill_at: float | None = field(default=None)


class Timekeeper:
    """One thread per worker that times out the jobs the loop could not.

    Args:
        clock: the executions' clock (monotonic seconds), for their deadlines.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._watched: dict[int, _Watch] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wake_at = float("inf")
        """When the thread next looks: a job due later needs no wake-up (jobs with the
        same timeout come due in the order they start, so most never wake it)."""

    def watch(self, execution: Overdue) -> None:
        """Keep an eye on ``execution`` until ``forget``; no-op without a deadline."""
        if execution.deadline is None:
            return
        with self._changed:
            self._watched[id(execution)] = _Watch(execution, execution.deadline)
            if self._thread is None:
                self._start()
            elif execution.deadline + LATE < self._wake_at:
                self._changed.notify()

    def _start(self) -> None:
        """Start the thread; when the system cannot (its thread limit, ``EAGAIN``), go on
        without it: the loop still enforces every timeout itself, and the next job with
        a timeout tries again. It used to kill the worker, and its job ran again as lost."""
        thread = threading.Thread(target=self._run, name="queuectl-timekeeper", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread"
            log.warning(
                "worker cannot start its timekeeper thread (%s); its loop alone enforces"
                " timeouts until the next job with one tries again",
                exc,
            )
            return
        self._thread = thread

    def forget(self, execution: Overdue) -> None:
        """The loop is done with ``execution`` (ended, abandoned)."""
        if execution.deadline is None:
            return
        with self._changed:
            self._watched.pop(id(execution), None)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                now = self._clock()
                wake = now + 3600.0
                for key, watch in list(self._watched.items()):
                    wake = min(wake, self._visit(key, watch, now))
                self._wake_at = wake
                self._changed.wait(max(0.0, wake - self._clock()))
                self._wake_at = float("-inf")  # awake: a watch made now needs no notify

    def _visit(self, key: int, watch: _Watch, now: float) -> float:
        """Act on one job if it is overdue; returns when to look at it next."""
        execution = watch.execution
        if execution.is_handled():
            self._watched.pop(key, None)
            return now + 3600.0
        if watch.kill_at is None:
            due = watch.deadline + LATE
            if now < due:
                return due
            execution.stopped_by_timekeeper(now)
            log.warning(
                "job %s: timed out %.1fs ago while the worker's loop was held up (a"
                " database call that has not returned); stopped by its timekeeper",
                execution.job_name,
                now - watch.deadline,
            )
            kill_group(execution.pgid, signal.SIGTERM)
            watch.kill_at = now + execution.grace
            return watch.kill_at
        if now < watch.kill_at:
            return watch.kill_at
        kill_group(execution.pgid, signal.SIGKILL)
        self._watched.pop(key, None)
        return now + 3600.0


__all__ = ["LATE", "Overdue", "Timekeeper"]
