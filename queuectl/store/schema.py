"""The schema: created on first use, upgraded from older versions, refused when newer."""

from __future__ import annotations

import peewee

from queuectl.errors import DatabaseError
from queuectl.store.models import ALL_MODELS, SCHEMA_VERSION, SchemaInfo, database
from queuectl.store.sql import (
    CLAIMABLE_INDEX,
    DEAD_INDEX,
    QUEUE_HAS_ROOM_FUNCTION,
    UNIQUE_KEY_INDEX,
)
from queuectl.store.transactions import advisory_lock, is_postgres, write_transaction
from queuectl.store.typeguard import guard_triggers


def schema_version() -> int | None:
    """The stored schema version, or ``None`` when the tables do not exist yet."""
    try:
        row = SchemaInfo.get_or_none(SchemaInfo.key == "schema_version")
    except (peewee.OperationalError, peewee.ProgrammingError) as exc:
        # Only a missing table means no schema: any other failure (a lock, an I/O
        # error) taken for one made a reader report an empty queue.
        if isinstance(exc, peewee.OperationalError) and "no such table" not in str(exc):
            raise
        if not database.is_closed() and is_postgres():
            database.rollback()
        return None
    return int(row.value) if row else None


def _version_under_lock() -> int | None:
    """``schema_version`` inside the schema lock's transaction.

    On PostgreSQL a read of a missing table fails the transaction, and
    ``schema_version``'s rollback then ended it and released the lock: processes
    started at once on a new schema all created the tables, and most failed on the
    catalog's "duplicate key" (7 of 12 ``add``). So the table is looked up first.
    """
    if is_postgres():
        [[exists]] = database.execute_sql(
            f"SELECT to_regclass('{SchemaInfo._meta.table_name}') IS NOT NULL"
        )
        if not exists:
            return None
    return schema_version()


def missing_schema() -> str | None:
    """Why PostgreSQL has nowhere to keep the tables, or ``None`` when it has.

    PostgreSQL creates tables in the first schema of ``search_path`` that exists; when
    none does (a URL's ``options=-csearch_path=NAME`` before ``CREATE SCHEMA NAME``) it
    said only "no schema has been selected to create in". Writers refuse with this
    line; readers warn with it, so both name the same fix.
    """
    [[current, path]] = database.execute_sql(
        "SELECT current_schema(), current_setting('search_path')"
    )
    if current is None and not path.strip(' "'):
        return "the search_path is empty: name a schema to keep the tables in"
    if current is None:
        return (
            f"no schema of the search_path ({path}) exists in this database: create it first"
            f" (CREATE SCHEMA {path.split(',')[0].strip()}), or name one that exists"
        )
    return None


def ensure_schema() -> None:
    """Create the tables on first use; refuse foreign files and newer schemas."""
    version = schema_version()
    if version == SCHEMA_VERSION:
        return
    if version is not None and version > SCHEMA_VERSION:
        raise DatabaseError(
            f"the database was written by a newer queuectl (schema {version}, "
            f"this version understands {SCHEMA_VERSION}); upgrade queuectl"
        )
    with write_transaction():
        advisory_lock("schema")  # workers on many hosts may start at once
        version = _version_under_lock()  # another process may have won the race
        if version is None:
            # A shared PostgreSQL database may hold anything; an SQLite file
            # with tables but none of ours belongs to another program.
            # (Listed on SQLite only: PostgreSQL's catalog view took 11 ms of the 60 a
            # new schema costs, to decide nothing.)
            tables = [] if is_postgres() else database.get_tables()
            if tables and not any(t.startswith("queuectl_") for t in tables):
                raise DatabaseError(
                    "the file is not a queuectl database "
                    f"(it holds other tables: {', '.join(sorted(tables)[:3])})"
                )
            if is_postgres() and (problem := missing_schema()):
                raise DatabaseError(problem)
            database.create_tables(ALL_MODELS, safe=True)
            database.execute_sql(CLAIMABLE_INDEX)
            database.execute_sql(UNIQUE_KEY_INDEX)
            database.execute_sql(DEAD_INDEX)
            if is_postgres():
                database.execute_sql(QUEUE_HAS_ROOM_FUNCTION)
            else:
                guard_column_types()
            SchemaInfo.insert(
                key="schema_version", value=str(SCHEMA_VERSION)
            ).on_conflict_ignore().execute()
        elif version < SCHEMA_VERSION:
            from queuectl.store.migrations import migrate

            migrate(version)


def guard_column_types() -> None:
    """SQLite: the triggers that refuse a value of the wrong type in every table
    (``typeguard``); PostgreSQL's column types do that themselves."""
    for model in ALL_MODELS:
        for statement in guard_triggers(model):
            database.execute_sql(statement)
