"""Where the store ends: a database failure leaves it as the core's own ``StoreUnavailable``.

The lifecycle's functions are wrapped with ``translated``, so their callers
(the worker loop, the CLI, the dashboard) handle one exception of the core and
never import peewee to recognise a driver's. The connection that failed is
closed on the way out, once no transaction is open: the next statement opens a
fresh one, which is how a worker rides out a database restart.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import peewee

from queuectl.errors import StoreUnavailable, first_line
from queuectl.store.models import database
from queuectl.store.writelock import explain

P = ParamSpec("P")
R = TypeVar("R")


class _Answers:
    count = 0
    """Calls through ``translated`` that returned: the database answered them."""


def answers() -> int:
    """How many calls into the store have returned so far (in this process).

    A loop that rides out an outage says the database is back only once one did:
    a slotted worker's step that needed no statement said "back after 0.2s" in the
    middle of a crash, then "unavailable" again at its next statement.
    """
    return _Answers.count


def translated(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` with a failed statement raised as ``StoreUnavailable`` (the driver's error
    as its ``__cause__``), and the failed connection closed once no transaction is open."""

    @functools.wraps(func)
    def boundary(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(*args, **kwargs)
            _Answers.count += 1
            return result
        except peewee.DatabaseError as exc:
            _close_if_idle()
            raise StoreUnavailable(
                first_line(exc),
                explain=functools.partial(explain, exc),
                waited=_waited(exc),
                refused=isinstance(exc, (peewee.DataError, peewee.IntegrityError)),
            ) from exc
        except StoreUnavailable:
            _close_if_idle()  # raised by a nested boundary, inside a transaction
            raise

    return boundary


def _waited(exc: BaseException) -> float:
    """How long a failed statement waited first: SQLite waits out its busy timeout before
    "database is locked" (a 20 s lock was logged as "back after 3.8s")."""
    if "database is locked" not in str(exc):
        return 0.0
    lock_wait = getattr(database.obj, "lock_wait", None)  # a worker's, waited in slices
    if lock_wait is not None:
        return float(lock_wait)
    pragmas = dict(getattr(database.obj, "_pragmas", ()))  # busy_timeout, as connections set it
    return float(pragmas.get("busy_timeout", 0)) / 1000


def _close_if_idle() -> None:
    db = database.obj
    if db is None or db.is_closed() or db.transaction_depth() > 0:
        return
    with contextlib.suppress(peewee.DatabaseError, peewee.InterfaceError):
        db.close()
