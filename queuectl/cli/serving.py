"""Whether any running worker serves the queues a command waits on, said as a hint.

``logs --follow`` and ``wait`` on a job no worker will claim waited for ever, silent or
saying only "waiting for a worker"; ``status`` already named the unserved queues.
"""

from __future__ import annotations

from collections.abc import Iterable


def unserved_hint(queues: Iterable[str]) -> str:
    """``no worker serves queue 'default': start one with queuectl worker start --queue
    default``, or ``""`` when running workers serve them all (or the workers cannot be
    read: a hint is not worth an error)."""
    from queuectl.errors import StoreUnavailable
    from queuectl.lifecycle.workers import queues_served, workers_as_seen
    from queuectl.textsafe import one_line, shell_word

    wanted = sorted(set(queues))
    if not wanted:
        return ""
    try:
        served = queues_served(workers_as_seen())
    except StoreUnavailable:
        return ""
    wanted_unserved = [name for name in wanted if name not in served]
    unserved = [one_line(name) for name in wanted_unserved]
    if not unserved:
        return ""
    named = " or ".join(repr(name) for name in unserved)
    noun = "queue" if len(unserved) == 1 else "queues"
    return (
        f"no worker serves {noun} {named}: start one with"
        f" queuectl worker start --queue {shell_word(','.join(wanted_unserved))}"
    )
