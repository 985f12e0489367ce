"""Unique keys (the job key ``unique_key``): at most one active job per key.

The database enforces it: a partial unique index over the key-holding states
(``sql.UNIQUE_KEY_INDEX``), so enqueues racing from many processes and hosts
admit exactly one. This module asks who holds a key before a write, to refuse
with a line that names the holder, and turns the index's refusal of a write
that raced past that look into the same kind of line (``guarded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import peewee

from queuectl.errors import KeyTaken
from queuectl.states import ACTIVE_STATES
from queuectl.store.models import Job, database
from queuectl.store.sql import UNIQUE_KEY_INDEX_NAME

_HOLDING = [state.value for state in ACTIVE_STATES]


def holders(keys: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The active job holding each of ``keys`` that is held: key -> (id, state)."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), 500):
        query = Job.select(Job.unique_key, Job.id, Job.state).where(
            Job.unique_key.in_(wanted[start : start + 500]) & Job.state.in_(_HOLDING)
        )
        found.update({key: (job_id, state) for key, job_id, state in query.tuples()})
    return found


def holder(key: str, *, besides: str | None = None) -> tuple[str, str] | None:
    """The active job (id, state) holding ``key``, other than ``besides``; None if free."""
    found = holders([key]).get(key)
    return None if found is None or found[0] == besides else found


def held_message(key: str, held_by: tuple[str, str]) -> str:
    """``unique key 'nightly' is held by job 3kq9 (pending)``: the refusal's words."""
    return f"unique key {key!r} is held by job {held_by[0]} ({held_by[1]})"


def taken(key: str, held_by: tuple[str, str], *, where: str = "") -> KeyTaken:
    """The refusal of a job that would be a second holder of ``key``."""
    return KeyTaken(f"{where}{held_message(key, held_by)}", key=key, holder=held_by[0])


def is_key_conflict(exc: BaseException) -> bool:
    """Whether a driver's integrity error is the unique-key index refusing a write
    (SQLite names the column, PostgreSQL the index)."""
    text = str(exc)
    return UNIQUE_KEY_INDEX_NAME in text or "queuectl_job.unique_key" in text


@contextmanager
def guarded(keys: Mapping[str | None, str] | Iterable[str | None] = ()) -> Iterator[None]:
    """Run a write that may give a job a key, in a savepoint: if the index refuses it
    (a writer raced past the look before it), raise ``KeyTaken`` naming the holder of
    one of ``keys`` as seen now, not the driver's error.

    Args:
        keys: the keys the write gives; a mapping gives each key the words that say
            whose it is (``job d1: ``, ``line 3: ``), as the look before the write
            words its refusal (the race's refusal said neither).

    Raises:
        KeyTaken: the index refused the write.
    """
    where = keys if isinstance(keys, Mapping) else {}
    named = [key for key in keys if key is not None]
    if not named:  # no key, no conflict: spare the savepoint (bulk enqueues pass here)
        yield
        return
    try:
        with database.atomic(), peewee.__exception_wrapper__:
            yield
    except peewee.IntegrityError as exc:
        if not is_key_conflict(exc):
            raise
        found = holders(named)
        for key in named:
            if key in found:
                raise taken(key, found[key], where=where.get(key, "")) from None
        raise KeyTaken(
            "a unique key is held by another active job", key=named[0] if named else "", holder=None
        ) from None
