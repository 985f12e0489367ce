"""The schema: what a fresh database holds, and how an older one is upgraded."""

from __future__ import annotations

import dataclasses

from queuectl import db, queue, sql
from queuectl.jobspec import JobSpec
from queuectl.models import SCHEMA_VERSION, ClaimedJob, Job, SchemaInfo, database


def _indexes() -> set[str]:
    names: set[str] = set()
    for table in ("queuectl_job", "queuectl_run"):
        names |= {index.name for index in database.get_indexes(table)}
    return names


def test_a_claimed_job_carries_every_job_column_in_order():
    assert tuple(f.name for f in dataclasses.fields(ClaimedJob)) == tuple(
        Job._meta.sorted_field_names
    )
    assert sql.CLAIMED_COLUMNS == sql.JOB_COLUMNS


def test_a_fresh_database_has_no_index_that_only_costs_writes(opened):
    indexes = _indexes()
    assert "queuectl_job_claimable" in indexes
    assert "queuectl_run_job_id_attempt" in indexes
    assert not {"queuectl_job_worker_id", "queuectl_run_job_id"} & indexes


def test_a_schema_1_database_is_upgraded_in_place_keeping_its_jobs(db_url):
    db.open_database(db_url)
    [job] = queue.enqueue_many([JobSpec(command="echo kept")])
    # Put the database back as schema 1 left it: two more indexes, version 1.
    database.execute_sql('CREATE INDEX queuectl_job_worker_id ON queuectl_job ("worker_id")')
    database.execute_sql('CREATE INDEX queuectl_run_job_id ON queuectl_run ("job_id")')
    SchemaInfo.update(value="1").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert db.schema_version() == SCHEMA_VERSION == 3
    assert not {"queuectl_job_worker_id", "queuectl_run_job_id"} & _indexes()
    assert Job.get_by_id(job).command == "echo kept"


NEWEST_FIRST = {"queuectl_job_state_created_at_id", "queuectl_job_created_at_id"}
SCHEMA_2_NEWEST_FIRST = {"queuectl_job_state_created_at", "queuectl_job_created_at"}


def test_a_schema_2_database_gets_newest_first_indexes_that_end_with_the_id(db_url):
    db.open_database(db_url)
    [job] = queue.enqueue_many([JobSpec(command="echo kept")])
    # Put the database back as schema 2 left it: the same indexes without the id.
    for name in NEWEST_FIRST:
        database.execute_sql(f"DROP INDEX {name}")
    database.execute_sql(
        'CREATE INDEX queuectl_job_state_created_at ON queuectl_job ("state", "created_at")'
    )
    database.execute_sql('CREATE INDEX queuectl_job_created_at ON queuectl_job ("created_at")')
    SchemaInfo.update(value="2").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert db.schema_version() == SCHEMA_VERSION
    indexes = _indexes()
    assert indexes >= NEWEST_FIRST and not SCHEMA_2_NEWEST_FIRST & indexes
    assert Job.get_by_id(job).command == "echo kept"


def test_newest_first_with_its_tie_break_is_read_from_an_index_not_sorted(db_path):
    """A bulk enqueue shares one timestamp; ordering it by id must not sort every job."""
    db.open_database(db_path)
    for states in ([], ["dead"]):
        query = Job.select().order_by(Job.created_at.desc(), Job.id.desc()).limit(50)
        if states:
            query = query.where(Job.state.in_(states))
        text, params = query.sql()
        plan = " ".join(
            str(row) for row in database.execute_sql(f"EXPLAIN QUERY PLAN {text}", params)
        )
        assert "TEMP B-TREE" not in plan, plan
