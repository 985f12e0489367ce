"""Which hook, if any, a job's final state calls for: ``on_success`` or ``on_failure``.

A hook is a shell command run once a job's outcome is committed: ``on_success``
when it completes, ``on_failure`` when it goes dead (not on each retried
attempt, nor on a cancel, which a person did and already knows about). A
dependent taken down by a job's death goes dead too and calls ``on_failure``
(``finish.taken_down_hooks``); one taken down by a cancel or delete, none. The
job's own command wins over the setting; an empty one means none.

Decided here, in the lifecycle, by whoever committed the final state
(``finish.complete_attempt`` for a worker's result, ``recovery`` for a lost
worker's job); run by ``queuectl.runtime.hooks``, after the commit and off the
claim path. Pure: nothing here reads or writes the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from queuectl.states import JobState

EVENTS: dict[JobState, str] = {JobState.COMPLETED: "on_success", JobState.DEAD: "on_failure"}
"""The final states that call a hook, and the name of the hook each calls."""


@dataclass(frozen=True)
class HookCall:
    """A hook to run for one job's outcome: the command and what it is told."""

    event: str
    """``on_success`` or ``on_failure``."""
    command: str
    job_id: str
    state: str
    exit_code: int | None
    attempt: int
    job_command: str
    queue: str
    output: str
    """The tail of the last attempt's output, handed over in a private temp file."""


def hook_for(
    state: JobState | None,
    *,
    job_id: str,
    job_hooks: tuple[str | None, str | None],
    settings: Mapping[str, object],
    exit_code: int | None,
    attempt: int,
    job_command: str,
    queue: str,
    output: str,
) -> HookCall | None:
    """The hook ``state`` calls for, or ``None`` (not final, or no command configured).

    Args:
        state: the state just committed; ``None`` (the job was no longer ours) calls none.
        job_hooks: the job's own ``(on_success, on_failure)``; ``None`` defers to the setting.
    """
    event = EVENTS.get(state) if state is not None else None
    if event is None:
        return None
    own = job_hooks[0] if event == "on_success" else job_hooks[1]
    command = own if own is not None else str(settings.get(event) or "")
    if not command.strip():
        return None
    assert state is not None
    return HookCall(
        event=event,
        command=command,
        job_id=job_id,
        state=state.value,
        exit_code=exit_code,
        attempt=attempt,
        job_command=job_command,
        queue=queue,
        output=output,
    )
