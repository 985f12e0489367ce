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


def _refused_when(field: Field) -> str:
    column = f'NEW."{field.column_name}"'
    if isinstance(field, ForeignKeyField):
        field = field.rel_field
    if isinstance(field, NUMBER_FIELDS):
        return f"typeof({column}) IN ('text', 'blob')"
    return f"typeof({column}) = 'blob'"


def guard_triggers(model: type[Model]) -> list[str]:
    """The two statements (before an insert, before an update) guarding ``model``'s table."""
    table = model._meta.table_name
    fields = model._meta.sorted_fields
    when = "\n    OR ".join(_refused_when(field) for field in fields)
    message = f"{table}: a value of the wrong type (text or a blob where a number goes)"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_types_{event.lower()}"
        f" AFTER {event} ON {table}\nWHEN {when}\n"
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for event in ("INSERT", "UPDATE")
    ]
