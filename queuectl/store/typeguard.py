"""SQLite triggers that refuse a value of the wrong type in any queuectl column.

SQLite stores what it is given: ``UPDATE queuectl_job SET run_at = 'abc'`` (by hand, or
by another program) was accepted, and then every worker died at the next idle look
(``float('abc')``) and ``list``, ``show`` and the dashboard failed on the row, for as
long as it stayed. PostgreSQL's columns refuse such a value themselves; on SQLite a
trigger per table and write aborts the statement that stores one (its change undone),
so nothing queuectl reads can hold one. (``STRICT`` tables would too, but an existing
database would have to be copied table by table into new ones to get them.) AFTER,
not BEFORE: a BEFORE trigger makes SQLite seek the row again once it has run, a cost
on every claim and finish.

A number column refuses text and blobs (an integer in a REAL column, or a whole
REAL in an INTEGER one, is a number and stays allowed); a text column refuses blobs.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    DoubleField,
    Field,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
)

NUMBER_FIELDS = (AutoField, BigIntegerField, BooleanField, DoubleField, FloatField, IntegerField)


def _refused_when(field: Field, *, update: bool) -> str:
    """The column's value refused; in an update only a value the statement changed: a
    row that held one before the triggers existed made every later write to it fail
    (a reviewer's catch: ``cancel --all`` refused whole, naming nothing)."""
    name = field.column_name
    kind = field.rel_field if isinstance(field, ForeignKeyField) else field
    if isinstance(kind, NUMBER_FIELDS):
        wrong = f"typeof(NEW.\"{name}\") IN ('text', 'blob')"
    else:
        wrong = f"typeof(NEW.\"{name}\") = 'blob'"
    # The type first: the comparison (a 64 KB output's, say) runs only for a wrong one.
    return f'({wrong} AND NEW."{name}" IS NOT OLD."{name}")' if update else wrong


def trigger_names(model: type[Model]) -> list[str]:
    """The guard triggers' names on ``model``'s table."""
    return [f"{model._meta.table_name}_types_{event}" for event in ("insert", "update")]


def guard_triggers(model: type[Model]) -> list[str]:
    """The statements that (re)make the triggers guarding ``model``'s table, after an
    insert and after an update: dropped first, as a migration that adds or drops a
    column must make them again (a trigger names every column)."""
    table = model._meta.table_name
    fields = model._meta.sorted_fields
    message = f"{table}: a value of the wrong type (text or a blob where a number goes)"
    statements = [f"DROP TRIGGER IF EXISTS {name}" for name in trigger_names(model)]
    for event, name in zip(("INSERT", "UPDATE"), trigger_names(model), strict=True):
        when = "\n    OR ".join(_refused_when(field, update=event == "UPDATE") for field in fields)
        statements.append(
            f"CREATE TRIGGER {name} AFTER {event} ON {table}\nWHEN {when}\n"
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    return statements
