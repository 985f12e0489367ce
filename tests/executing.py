"""Run a command to its end with the executor, as a worker does minus the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from queuectl.lifecycle.policy import Result
from queuectl.runtime.executor import KILL_GRACE, Execution
from queuectl.runtime.timekeeper import Timekeeper
from queuectl.runtime.watchdog import Watchdog


def run_to_end(
    command: str,
    *,
    cwd: str,
    env: Mapping[bytes, bytes] | None = None,
    output_limit: int = 65536,
    timeout: float | None = None,
    grace: float = KILL_GRACE,
    tick: Callable[[Execution], None] | None = None,
    watchdog: Watchdog | None = None,
    timekeeper: Timekeeper | None = None,
) -> Result:
    """``Execution.start`` then ``pump`` until the end; ``tick`` is called about every 0.1 s
    and may ``kill`` the execution (the pump keeps reading until the group is gone)."""
    started = Execution.start(
        command,
        cwd=cwd,
        env=env,
        output_limit=output_limit,
        timeout=timeout,
        grace=grace,
        watchdog=watchdog,
        timekeeper=timekeeper,
    )
    if isinstance(started, Result):
        return started
    try:
        while not started.pump(0.1):
            if tick is not None:
                tick(started)
    except BaseException:
        started.abandon()
        raise
    assert started.result is not None
    return started.result
