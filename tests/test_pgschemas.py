"""The PostgreSQL schemas tests get (``tests.pgschemas``): reused, yet each one as new."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.store import db
from queuectl.store.models import Job, Run, SchemaInfo, Setting
from tests import pgschemas
from tests.conftest import PG_ENV

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool() -> Iterator[pgschemas.SchemaPool]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    made = pgschemas.SchemaPool(base)
    yield made
    db.close_database()
    made.close()


def _open(pool: pgschemas.SchemaPool, schema: str) -> None:
    db.open_database(pgschemas.schema_url(pool.base, schema))


def test_a_schema_given_back_comes_back_renamed_and_empty(pool):
    schema = pool.take()
    _open(pool, schema)
    enqueuing.enqueue_many([JobSpec(command="true")] * 3)
    Setting.insert(key="max_retries", value="9").execute()
    SchemaInfo.update(value="99").execute()
    pool.admin.execute_sql(f"SELECT nextval('{schema}.{pgschemas.RUN_ID_SEQUENCE}')")
    db.close_database()
    pool.give_back(schema)

    again = pool.take()
    assert again != schema
    _open(pool, again)
    assert Job.select().count() == Setting.select().count() == Run.select().count() == 0
    assert [(row.key, row.value) for row in SchemaInfo.select()] == pool._meta_rows
    next_id = pool.admin.execute_sql(f"SELECT nextval('{again}.{pgschemas.RUN_ID_SEQUENCE}')")
    assert next_id.fetchone()[0] == 1
    db.close_database()
    pool.give_back(again)


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE queuectl_job ADD COLUMN extra integer",
        "ALTER TABLE queuectl_job ALTER COLUMN worker_id SET NOT NULL",
        "ALTER TABLE queuectl_job ALTER COLUMN command SET DEFAULT 'x'",
        "CREATE INDEX queuectl_job_extra ON queuectl_job (command)",
        "DROP INDEX queuectl_job_claimable",
        "CREATE TABLE someone_elses (id integer)",
        "CREATE OR REPLACE FUNCTION queuectl_queue_has_room(queue_name text, ending_job text,"
        " take_lock boolean) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    ],
)
def test_a_schema_whose_shape_a_test_changed_is_dropped_not_reused(pool, change):
    schema = pool.take()
    pool.admin.execute_sql(f"SET search_path = {schema}")
    pool.admin.execute_sql(change)
    pool.admin.execute_sql("RESET search_path")
    pool.give_back(schema)
    assert pool._spare == []
    exists = pool.admin.execute_sql("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    assert exists.fetchone() is None


def test_a_write_left_uncommitted_by_a_test_never_reaches_the_next_one(pool):
    """A row the DELETE cannot see yet must not land in the reused schema when it commits:
    emptying waits for the tables, and past its patience the schema is dropped instead."""
    import psycopg

    schema = pool.take()
    left_behind = psycopg.connect(pgschemas.schema_url(pool.base, schema))
    left_behind.execute("INSERT INTO queuectl_setting VALUES ('left', 'behind')")
    commit = threading.Timer(float(pgschemas.LOCK_TIMEOUT.rstrip("s")) + 0.5, left_behind.commit)
    commit.start()
    try:
        pool.give_back(schema)
    finally:
        commit.join()
        left_behind.close()
    again = pool.take()
    rows = pool.admin.execute_sql(f"SELECT count(*) FROM {again}.queuectl_setting")
    assert rows.fetchone()[0] == 0
    pool.give_back(again)
