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
    assert db.schema_version() == SCHEMA_VERSION == 2
    assert not {"queuectl_job_worker_id", "queuectl_run_job_id"} & _indexes()
    assert Job.get_by_id(job).command == "echo kept"
