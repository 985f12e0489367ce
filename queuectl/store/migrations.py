"""Upgrading an older database to the schema this queuectl writes, one version at a time.

Each step is a function from version N to N + 1, spelled out in SQL rather than
taken from the models (which describe only the newest schema). ``schema.ensure_schema``
runs them inside its write transaction, under the schema advisory lock.
"""

from __future__ import annotations

from collections.abc import Callable

from queuectl.errors import DatabaseError
from queuectl.store.models import (
    SCHEMA_VERSION,
    Dependency,
    Job,
    QueueSetting,
    Run,
    Schedule,
    SchemaInfo,
    database,
)
from queuectl.store.sql import (
    CLAIMABLE_INDEX,
    DEAD_INDEX,
    QUEUE_HAS_ROOM_FUNCTION,
    UNIQUE_KEY_INDEX,
)
from queuectl.store.transactions import is_postgres


def _drop_per_job_indexes() -> None:
    """Schema 1 -> 2: two indexes every job moved, that no query needs (see ``models``)."""
    for name in ("queuectl_job_worker_id", "queuectl_run_job_id"):
        database.execute_sql(f"DROP INDEX IF EXISTS {name}")


def _add_id_to_the_newest_first_indexes() -> None:
    """Schema 2 -> 3: newest-first indexes that end with the id tie-break.

    Spelled out rather than taken from the models, which describe the newest schema.
    """
    for name in ("queuectl_job_state_created_at", "queuectl_job_created_at"):
        database.execute_sql(f"DROP INDEX IF EXISTS {name}")
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS queuectl_job_state_created_at_id"
        " ON queuectl_job (state, created_at, id)"
    )
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS queuectl_job_created_at_id ON queuectl_job (created_at, id)"
    )


def _number_jobs_and_runs() -> None:
    """Schema 3 -> 4: ``Job.seq`` (enqueue order), ``Run.run`` (unique per job), output sizes.

    Existing jobs are numbered by (created_at, id), the order the claim and
    ``list`` used until now; existing runs by their row id within each job.
    Their total output size is unknown (NULL): only the tail was kept.
    """
    for statement in (
        "ALTER TABLE queuectl_job ADD COLUMN env TEXT",
        "ALTER TABLE queuectl_job ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE queuectl_job ADD COLUMN output_bytes BIGINT",
        "ALTER TABLE queuectl_run ADD COLUMN run INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE queuectl_run ADD COLUMN output_bytes BIGINT",
        """UPDATE queuectl_job SET seq = numbered.n
        FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM queuectl_job)
            AS numbered
        WHERE queuectl_job.id = numbered.id""",
        """UPDATE queuectl_run SET run = numbered.n
        FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY id) AS n
              FROM queuectl_run) AS numbered
        WHERE queuectl_run.id = numbered.id""",
    ):
        database.execute_sql(statement)
    for name in (
        "queuectl_job_state_created_at_id",
        "queuectl_job_created_at_id",
        "queuectl_job_claimable",
        "queuectl_run_job_id_attempt",
    ):
        database.execute_sql(f"DROP INDEX IF EXISTS {name}")
    Job._schema.create_indexes(safe=True)
    Run._schema.create_indexes(safe=True)
    database.execute_sql(CLAIMABLE_INDEX)


def _add_hook_columns() -> None:
    """Schema 4 -> 5: a job's own ``on_success``/``on_failure`` hook commands.

    NULL on every existing job: they follow the settings, as before.
    """
    for statement in (
        "ALTER TABLE queuectl_job ADD COLUMN on_success TEXT",
        "ALTER TABLE queuectl_job ADD COLUMN on_failure TEXT",
    ):
        database.execute_sql(statement)


def _add_queue_settings() -> None:
    """Schema 5 -> 6: ``queuectl_queue``, the paused and limited queues (empty: none are),
    and on PostgreSQL the function the claim asks about a limited queue."""
    QueueSetting.create_table(safe=True)
    if is_postgres():
        _replace_has_room_function()


def _replace_has_room_function() -> None:
    """Today's ``queuectl_queue_has_room``, over any earlier one (schema 11 renamed an
    argument, which ``CREATE OR REPLACE`` cannot do alone)."""
    database.execute_sql("DROP FUNCTION IF EXISTS queuectl_queue_has_room(text, text, boolean)")
    database.execute_sql(QUEUE_HAS_ROOM_FUNCTION)


def _add_held_at() -> None:
    """Schema 6 -> 7: ``hold`` keeps a waiting job from starting (NULL, the default, runs);
    ``tty`` runs a job under a pseudo-terminal."""
    database.execute_sql("ALTER TABLE queuectl_job ADD COLUMN held_at DOUBLE PRECISION")
    database.execute_sql("ALTER TABLE queuectl_job ADD COLUMN tty BOOLEAN NOT NULL DEFAULT FALSE")


def _add_schedules() -> None:
    """Schema 7 -> 8: ``queuectl_schedule``, the recurring jobs (empty: none yet)."""
    Schedule.create_table(safe=True)


def _add_worker_slots() -> None:
    """Schema 8 -> 9: how many jobs a worker runs at once (1 for every existing one)."""
    database.execute_sql("ALTER TABLE queuectl_worker ADD COLUMN slots INTEGER NOT NULL DEFAULT 1")


def _add_workflows() -> None:
    """Schema 9 -> 10: dependencies between jobs (``queuectl_dependency``, the ``blocked``
    state, ``taken_down_by``) and unique keys (``unique_key`` and its partial unique
    index). Existing jobs have neither: NULL, and no dependency rows."""
    database.execute_sql("ALTER TABLE queuectl_job ADD COLUMN unique_key VARCHAR(200)")
    database.execute_sql("ALTER TABLE queuectl_job ADD COLUMN taken_down_by VARCHAR(64)")
    Dependency.create_table(safe=True)
    database.execute_sql(UNIQUE_KEY_INDEX)


def _index_outcomes_and_count_slots_against_limits() -> None:
    """Schema 10 -> 11: the ``(finished_at)`` index of runs becomes ``(finished_at,
    outcome)``, so ``status`` counts a window's successful runs without reading a row
    (at 100,000 runs in the window, 21 ms -> 4 ms on SQLite); still one index, as wide
    as before but for the outcome. On PostgreSQL, ``queuectl_queue_has_room`` counts
    the claiming worker's own running jobs too, but for the one being ended (its
    second argument is now that job, no longer the worker: slots)."""
    database.execute_sql("DROP INDEX IF EXISTS queuectl_run_finished_at")
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS queuectl_run_finished_at_outcome"
        " ON queuectl_run (finished_at, outcome)"
    )
    if is_postgres():
        _replace_has_room_function()


def _index_dead_jobs_by_death() -> None:
    """Schema 11 -> 12: the DLQ's partial index (``sql.DEAD_INDEX``), so the dashboard
    reads the latest deaths of the whole DLQ, not of its newest 500 enqueues."""
    database.execute_sql(DEAD_INDEX)


def _guard_column_types() -> None:
    """Schema 12 -> 13: on SQLite, triggers refuse a value of the wrong type in any
    column (``store.typeguard``): text written into ``run_at`` took every worker down.
    A row that already holds one is left as it is (none of queuectl's writes make one)."""
    if not is_postgres():
        from queuectl.store.schema import guard_column_types

        guard_column_types()


def _remember_the_last_ticks_fire() -> None:
    """Schema 13 -> 14: a schedule remembers its last tick's fire beside its last fire
    (``last_tick_job_id``): a ``cron run`` after it no longer hides it from ``--overlap
    skip``. A last fire that was a tick's is the last tick's; a run's (``.runXX``) is
    not. On SQLite the type triggers are made again, to guard the new column too."""
    columns = {column.name for column in database.get_columns("queuectl_schedule")}
    if "last_tick_job_id" not in columns:  # an older schema's step made today's table
        database.execute_sql(
            "ALTER TABLE queuectl_schedule ADD COLUMN last_tick_job_id VARCHAR(64)"
        )
    database.execute_sql(
        "UPDATE queuectl_schedule SET last_tick_job_id = last_job_id"
        f" WHERE last_job_id NOT LIKE {database.param}",
        ("%.run__",),  # a cron run's id (a parameter: psycopg reads % as one)
    )
    _guard_column_types()


def migrate(from_version: int) -> None:
    """Upgrade an older schema step by step; each step is one function per version."""
    steps: dict[int, Callable[[], None]] = {  # to version + 1
        1: _drop_per_job_indexes,
        2: _add_id_to_the_newest_first_indexes,
        3: _number_jobs_and_runs,
        4: _add_hook_columns,
        5: _add_queue_settings,
        6: _add_held_at,
        7: _add_schedules,
        8: _add_worker_slots,
        9: _add_workflows,
        10: _index_outcomes_and_count_slots_against_limits,
        11: _index_dead_jobs_by_death,
        12: _guard_column_types,
        13: _remember_the_last_ticks_fire,
    }
    for version in range(from_version, SCHEMA_VERSION):
        step = steps.get(version)
        if step is None:
            raise DatabaseError(f"no migration from schema {version}")
        step()
    SchemaInfo.update(value=str(SCHEMA_VERSION)).where(SchemaInfo.key == "schema_version").execute()
