"""PostgreSQL schemas for the tests: each test gets one that looks brand new, most of them
without paying for a new one.

A new schema costs 50-75 ms of the server's catalog work (CREATE SCHEMA, queuectl's
tables, indexes and function, then DROP SCHEMA CASCADE), times about 650 tests on a
2-core machine whose cores the suite already fills. A schema a test has finished with
is instead emptied and renamed (about 10 ms), then handed to the next test of the same
process, which finds queuectl's tables as its first ``open_database`` would have made
them. Nothing of the last test carries over:

- the rows of every table go, and ``queuectl_meta`` gets back its rows as created;
- the run id sequence restarts;
- the new name makes the schema invisible to anything still connected with the old
  one in its ``search_path`` (a process a test left behind finds no tables, as when
  the schema was dropped);
- a schema whose catalog a test changed (a table dropped, a column or an index added,
  the function replaced, another table made) is dropped, not reused: its fingerprint
  no longer matches a schema as queuectl makes it.

Tests that need a schema without queuectl's tables (what a first open or a reader
sees there) ask for ``bare_pg_url``.
"""

from __future__ import annotations

import uuid

import peewee

from queuectl.store import db
from queuectl.store.models import ALL_MODELS

FINGERPRINT = """
SELECT md5(string_agg(replace(part, %(schema)s || '.', ''), ',' ORDER BY part)) FROM (
    SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname, '') || ':'
        || coalesce(a.atttypid::text, '') || ':' || coalesce(a.attnotnull::text, '')
        || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS part
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = %(schema)s
  UNION ALL
    SELECT pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s
  UNION ALL
    SELECT conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
    WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
  UNION ALL
    SELECT p.proname || ':' || md5(p.prosrc) || ':' || pg_get_function_arguments(p.oid)
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = %(schema)s
) parts
"""
"""What a schema holds, names and shapes, as one hash: relations and their columns
(types, NOT NULL, defaults), indexes, constraints, functions. Not its rows, nor its
name (which the catalog writes into a foreign key or a default where it is not on the
``search_path``)."""

META = "queuectl_meta"
RUN_ID_SEQUENCE = "queuectl_run_id_seq"
LOCK_TIMEOUT = "1s"
"""How long emptying waits for a lock something a test left behind holds; then the
schema is dropped instead, which waits as the tests always did."""


def new_name() -> str:
    return f"qt_{uuid.uuid4().hex[:12]}"


def schema_url(base: str, schema: str) -> str:
    from urllib.parse import quote

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


class SchemaPool:
    """One test process's schemas: made on demand, emptied and reused, dropped at the end."""

    def __init__(self, base: str) -> None:
        from playhouse.db_url import connect

        self.base = base
        # Made here, before any test's monkeypatching (PGOPTIONS, timeouts) is in force.
        self.admin = connect(base)
        self.admin.execute_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        self._spare: list[str] = []
        self._pristine: str | None = None
        self._meta_rows: list[tuple] = []

    def bare(self) -> str:
        """A new schema with nothing in it; dropped when given back."""
        schema = new_name()
        self.admin.execute_sql(f"CREATE SCHEMA {schema}")
        return schema

    def take(self) -> str:
        """A schema holding queuectl's tables as a first open makes them, and no rows."""
        if self._spare:
            return self._spare.pop()
        schema = self.bare()
        db.open_database(schema_url(self.base, schema))
        db.close_database()
        if self._pristine is None:
            self._pristine = self._fingerprint(schema)
            cursor = self.admin.execute_sql(f"SELECT * FROM {schema}.{META}")
            self._meta_rows = list(cursor.fetchall())
        return schema

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` for the next test, or drop it when it is not as made."""
        try:
            if self._pristine is not None and self._fingerprint(schema) == self._pristine:
                self._spare.append(self._emptied(schema))
                return
        except peewee.DatabaseError:  # a lock held past LOCK_TIMEOUT
            pass
        self._drop(schema)

    def close(self) -> None:
        """Drop the spare schemas and the admin connection (the end of the session)."""
        while self._spare:
            self._drop(self._spare.pop())
        self.admin.close()

    def _drop(self, schema: str) -> None:
        """Drop ``schema``, waiting as long as it takes for what still holds a lock in it."""
        with self.admin.atomic():
            self.admin.execute_sql("SET LOCAL lock_timeout = 0")
            self.admin.execute_sql(f"DROP SCHEMA {schema} CASCADE")

    def _fingerprint(self, schema: str) -> str | None:
        return self.admin.execute_sql(FINGERPRINT, {"schema": schema}).fetchone()[0]

    def _emptied(self, schema: str) -> str:
        renamed = new_name()
        tables = ", ".join(f"{schema}.{model._meta.table_name}" for model in ALL_MODELS)
        with self.admin.atomic():
            # Whatever a test left running must be done with the tables first: a row it
            # wrote uncommitted, invisible to the DELETE, would otherwise land in the next
            # test's schema when it commits.
            self.admin.execute_sql(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            for model in reversed(ALL_MODELS):  # a row's referrers first
                self.admin.execute_sql(f"DELETE FROM {schema}.{model._meta.table_name}")
            if self._meta_rows:
                marks = ", ".join(["%s"] * len(self._meta_rows[0]))
                for row in self._meta_rows:
                    self.admin.execute_sql(f"INSERT INTO {schema}.{META} VALUES ({marks})", row)
            self.admin.execute_sql(f"ALTER SEQUENCE {schema}.{RUN_ID_SEQUENCE} RESTART")
            self.admin.execute_sql(f"ALTER SCHEMA {schema} RENAME TO {renamed}")
        return renamed
