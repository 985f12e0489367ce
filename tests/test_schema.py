"""The schema: what a fresh database holds, and how an older one is upgraded."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qs

import peewee
import pytest

from queuectl.errors import QueueError
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import finish, reads, recovery, stats
from queuectl.lifecycle.finish import Ended
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import Registration
from queuectl.store import db, schema, sql
from queuectl.store.models import (
    SCHEMA_VERSION,
    ClaimedJob,
    Job,
    QueueSetting,
    Run,
    RunOutcome,
    Schedule,
    SchemaInfo,
    Worker,
    database,
)
from queuectl.store.transactions import is_postgres
from queuectl.store.typeguard import trigger_names
from tests.conftest import T0, end_attempt


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
    assert "queuectl_run_job_id_run" in indexes
    assert not {"queuectl_job_worker_id", "queuectl_run_job_id"} & indexes


def test_a_schema_1_database_is_upgraded_in_place_keeping_its_jobs(db_url):
    db.open_database(db_url)
    [job] = enqueuing.enqueue_many([JobSpec(command="echo kept")])
    # Put the database back as schema 1 left it: schema 3's tables, two more indexes.
    _as_schema_3()
    database.execute_sql('CREATE INDEX queuectl_job_worker_id ON queuectl_job ("worker_id")')
    database.execute_sql('CREATE INDEX queuectl_run_job_id ON queuectl_run ("job_id")')
    SchemaInfo.update(value="1").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    assert not {"queuectl_job_worker_id", "queuectl_run_job_id"} & _indexes()
    assert Job.get_by_id(job).command == "echo kept"


SCHEMA_3_INDEXES = {"queuectl_job_state_created_at_id", "queuectl_job_created_at_id"}
SCHEMA_2_NEWEST_FIRST = {"queuectl_job_state_created_at", "queuectl_job_created_at"}
SCHEMA_4_INDEXES = {"queuectl_job_state_seq", "queuectl_job_seq", "queuectl_run_job_id_run"}


def _as_schema_13() -> None:
    """Put an open database back as schema 13 left it: no ``last_tick_job_id`` on
    schedules (SQLite's triggers, which name it, dropped first; 13 -> 14 makes them)."""
    _drop_triggers()
    database.execute_sql("ALTER TABLE queuectl_schedule DROP COLUMN last_tick_job_id")


def _drop_triggers() -> None:
    if not is_postgres():
        for (name,) in database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            database.execute_sql(f"DROP TRIGGER {name}")


def _as_schema_12() -> None:
    """Put an open database back as schema 12 left it: on SQLite, no type triggers."""
    _as_schema_13()


def _as_schema_11() -> None:
    """Put an open database back as schema 11 left it: no DLQ index."""
    _as_schema_12()
    database.execute_sql("DROP INDEX queuectl_job_dead_by_death")


def _as_schema_10() -> None:
    """Put an open database back as schema 10 left it: runs indexed by ``finished_at``
    alone, and on PostgreSQL a limit that left out all of the claiming worker's jobs."""
    _as_schema_11()
    database.execute_sql("DROP INDEX queuectl_run_finished_at_outcome")
    database.execute_sql("CREATE INDEX queuectl_run_finished_at ON queuectl_run (finished_at)")
    if is_postgres():
        database.execute_sql("DROP FUNCTION queuectl_queue_has_room(text, text, boolean)")
        database.execute_sql(
            sql.QUEUE_HAS_ROOM_FUNCTION.replace("ending_job", "claimer").replace(
                "id IS DISTINCT FROM claimer", "worker_id IS DISTINCT FROM claimer"
            )
        )


def _has_room_arguments() -> list[str]:
    """The argument names of this test's own function: each test has a schema of its own,
    and a test beside it (``-n 2``) may hold an older version of the function in its."""
    return list(
        database.execute_sql(
            "SELECT proargnames FROM pg_proc WHERE proname = 'queuectl_queue_has_room'"
            " AND pronamespace = current_schema()::regnamespace"
        ).fetchone()[0]
    )


def _as_schema_9() -> None:
    """Put an open database back as schema 9 left it: no dependencies, no unique keys."""
    _as_schema_10()
    database.execute_sql("DROP INDEX IF EXISTS queuectl_job_unique_key")
    database.execute_sql("DROP TABLE queuectl_dependency")
    for column in ("unique_key", "taken_down_by"):
        database.execute_sql(f"ALTER TABLE queuectl_job DROP COLUMN {column}")


def _as_schema_8() -> None:
    """Put an open database back as schema 8 left it: no slots column on workers either."""
    _as_schema_9()
    database.execute_sql("ALTER TABLE queuectl_worker DROP COLUMN slots")


def _as_schema_7() -> None:
    """Put an open database back as schema 7 left it: no schedules table either."""
    _as_schema_8()
    database.execute_sql("DROP TABLE queuectl_schedule")


def test_a_schema_7_database_gains_an_empty_schedules_table(db_url):
    db.open_database(db_url)
    _as_schema_7()
    SchemaInfo.update(value="7").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    assert Schedule.select().count() == 0


def _as_schema_6() -> None:
    """Put an open database back as schema 6 left it: no held_at or tty columns on jobs."""
    _as_schema_7()
    for column in ("held_at", "tty"):
        database.execute_sql(f"ALTER TABLE queuectl_job DROP COLUMN {column}")


def _as_schema_4() -> None:
    """Put an open database back as schema 4 left it: no hook columns on jobs."""
    _as_schema_6()
    for column in ("on_success", "on_failure"):
        database.execute_sql(f"ALTER TABLE queuectl_job DROP COLUMN {column}")


def _as_schema_3() -> None:
    """Put an open database back as schema 3 left it: no seq/env/run/output_bytes columns,
    the (created_at, id) indexes, a claim index ending with created_at, id."""
    _as_schema_4()
    database.execute_sql("DROP INDEX queuectl_job_claimable")
    for name in SCHEMA_4_INDEXES:
        database.execute_sql(f"DROP INDEX {name}")
    database.execute_sql("DROP TABLE IF EXISTS queuectl_queue")
    for table, column in (
        ("queuectl_job", "seq"),
        ("queuectl_job", "env"),
        ("queuectl_job", "output_bytes"),
        ("queuectl_run", "run"),
        ("queuectl_run", "output_bytes"),
    ):
        database.execute_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    database.execute_sql(
        "CREATE INDEX queuectl_job_state_created_at_id ON queuectl_job (state, created_at, id)"
    )
    database.execute_sql("CREATE INDEX queuectl_job_created_at_id ON queuectl_job (created_at, id)")
    database.execute_sql(
        "CREATE INDEX queuectl_run_job_id_attempt ON queuectl_run (job_id, attempt)"
    )
    database.execute_sql(
        "CREATE INDEX queuectl_job_claimable"
        " ON queuectl_job (priority DESC, run_at, created_at, id)"
        " WHERE state IN ('pending', 'failed')"
    )
    SchemaInfo.update(value="3").where(SchemaInfo.key == "schema_version").execute()


def test_a_schema_2_database_is_upgraded_through_3_to_the_newest(db_url):
    db.open_database(db_url)
    [job] = enqueuing.enqueue_many([JobSpec(command="echo kept")])
    _as_schema_3()
    # … and back to schema 2: the same newest-first indexes without the id.
    for name in SCHEMA_3_INDEXES:
        database.execute_sql(f"DROP INDEX {name}")
    database.execute_sql(
        'CREATE INDEX queuectl_job_state_created_at ON queuectl_job ("state", "created_at")'
    )
    database.execute_sql('CREATE INDEX queuectl_job_created_at ON queuectl_job ("created_at")')
    SchemaInfo.update(value="2").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION
    indexes = _indexes()
    assert indexes >= SCHEMA_4_INDEXES and not (SCHEMA_2_NEWEST_FIRST | SCHEMA_3_INDEXES) & indexes
    assert Job.get_by_id(job).command == "echo kept"


def test_a_schema_3_database_numbers_jobs_by_time_then_id_and_runs_per_job(db_url):
    """Existing jobs keep the order the claim gave them (created_at, then id); runs are
    numbered per job in the order they were recorded; output sizes are unknown."""
    db.open_database(db_url)
    ids = enqueuing.enqueue_many([JobSpec(command=f"echo {n}") for n in range(4)], now=T0)
    [late] = enqueuing.enqueue_many([JobSpec(command="echo late")], now=T0 - 60)
    for _ in range(2):
        claim = claiming.claim("w1", now=T0)
        assert claim is not None
        end_attempt(claim, RunOutcome.FAILED, now=T0, worker_id="w1")
    _as_schema_3()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION
    by_seq = [job.id for job in Job.select().order_by(Job.seq)]
    assert by_seq == [late, *sorted(ids)]  # the oldest first; a shared time broken by id
    assert len({job.seq for job in Job.select()}) == 5
    runs = list(Run.select().order_by(Run.id))
    assert [run.run for run in runs] == [1, 1]  # two jobs, one run each
    assert all(run.output_bytes is None for run in runs)
    # The next enqueue comes after every migrated job; the claim still uses its index.
    [new] = enqueuing.enqueue_many([JobSpec(command="echo new")], now=T0)
    assert Job.get_by_id(new).seq == 6


def test_newest_first_is_read_from_an_index_not_sorted(db_path):
    """``list`` and the dashboard ask for the newest N: that must not sort every job."""
    db.open_database(db_path)
    for states in ([], ["dead"]):
        query = Job.select().order_by(Job.seq.desc()).limit(50)
        if states:
            query = query.where(Job.state.in_(states))
        text, params = query.sql()
        plan = " ".join(
            str(row) for row in database.execute_sql(f"EXPLAIN QUERY PLAN {text}", params)
        )
        assert "TEMP B-TREE" not in plan, plan


def test_the_claim_reads_its_partial_index_in_order_on_sqlite(db_path):
    """At 100k waiting jobs the claim must stay O(1): no sort, and the partial index."""
    db.open_database(db_path)
    statement = sql.claim_sql("?", 2, postgres=False)
    start, end = statement.text.index("SELECT id"), statement.text.index("LIMIT 1")
    select = sql.positional(statement.text[start:end].replace("?", "{p}"), "?")
    values = {"worker": "w1", "now": T0, "ending": None, "q0": "default", "q1": "other"}
    # The subquery's markers are the claim's from the second (``now``) on.
    params = statement.params(values)[-len(select.names) :]
    plan = " ".join(
        str(row) for row in database.execute_sql(f"EXPLAIN QUERY PLAN {select.text}", params)
    )
    assert "queuectl_job_claimable" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("statistics", ["taken", "none yet", "stale"])
def test_the_claim_reads_its_partial_index_in_order_on_postgresql(pg_url, statistics):
    """PostgreSQL has no INDEXED BY: a worker's session plans without sorting
    (``sql.PG_WORKER_SESSION``), so the ordered index scan is the plan whatever the
    planner knows: with statistics, with none yet (a bulk enqueue into a new schema),
    and with stale ones (taken while the queue was empty).

    Without it, the planner took every waiting job for rare when it had no statistics,
    and gathered and sorted them all on each claim (7-12 ms a claim at 24,000 waiting,
    measured: 70 jobs/s for a worker with four slots); and with statistics, a per-row
    ``queue <> ALL (closed queues)`` made it expect one match (2-10 ms a claim at 8,000
    waiting).
    """
    db.open_database(pg_url, claims_jobs=True)
    if statistics == "stale":
        database.execute_sql("ANALYZE queuectl_job")
    # From about 6,000 waiting jobs on, a planner without statistics sorts (measured).
    enqueuing.enqueue_many([JobSpec(command="true") for _ in range(8000)], now=T0)
    if statistics == "taken":
        database.execute_sql("ANALYZE queuectl_job")
    for queues in (["default"], ["default", "other"]):
        values = {"worker": "w1", "now": T0 + 1, "ending": None, **sql.queue_values(queues)}
        claim = sql.claim_sql("%s", len(queues), postgres=True)
        end_and_claim = sql.pg_end_and_claim_sql(len(queues))
        named = {
            **values,
            **dict.fromkeys(["exit_code", "error", "output", "output_bytes", "pgid"]),
            **{
                "run": 0,
                "started": None,
                "outcome": "succeeded",
                "state": "completed",
                "finished_at": T0,
            },
            "ended_at": T0,
            **{"run_at": None, "given_back": 0, "holder": None, "job": "-", "host": "h"},
        }
        idle_claim = (sql.pg_claim_sql(len(queues)), {**values, "host": "h"})
        for text, params in (
            (claim.text, claim.params(values)),
            (end_and_claim, named),
            idle_claim,
        ):
            rows = database.execute_sql(f"EXPLAIN {text}", params)
            plan = "\n".join(row[0] for row in rows)
            assert "queuectl_job_claimable" in plan and "Sort" not in plan, plan


@pytest.mark.postgres
def test_only_a_worker_session_plans_without_sorting(pg_url):
    """The setting is the worker's (``queuectl worker run`` opens with ``claims_jobs``):
    the dashboard, ``list`` and ``stats`` sort as the planner sees fit."""
    db.open_database(pg_url)
    assert database.execute_sql("SHOW enable_sort").fetchone() == ("on",)
    db.open_database(pg_url, durable=False, queue_writes=True, claims_jobs=True)
    assert database.execute_sql("SHOW enable_sort").fetchone() == ("off",)
    assert database.execute_sql("SHOW synchronous_commit").fetchone() == ("off",)


@pytest.mark.postgres
def test_a_session_with_no_options_of_its_own_keeps_pgoptions(pg_url, monkeypatch):
    """libpq reads PGOPTIONS only when the connection names no ``options``: the CLI's
    session must not name an empty one (b9b3b7a did, and a user's statement_timeout
    in PGOPTIONS was ignored)."""
    base, query = pg_url.split("?", 1)
    [search_path] = parse_qs(query)["options"]  # this test's schema, now from PGOPTIONS
    monkeypatch.setenv("PGOPTIONS", f"{search_path} -c statement_timeout=1234")
    db.open_database(base)
    assert database.execute_sql("SHOW statement_timeout").fetchone() == ("1234ms",)


@pytest.mark.postgres
def test_a_worker_sends_one_statement_per_claim_and_pipelines_only_groups(pg_url, monkeypatch):
    """The idle claim and a one-job worker's end-and-claim are each one plain statement,
    one message each way (nothing to set before them in a worker's session); a
    slotted worker's group of ends is one pipeline, one round trip for them all."""
    db.open_database(pg_url, claims_jobs=True)
    enqueuing.enqueue_many([JobSpec(command="true") for _ in range(6)], now=T0)
    row = Registration(worker_id="w1", pid=1, host="h", slots=2)
    row.register(T0)
    connection = database.obj.connection()
    pipelines: list[str] = []
    opened = type(connection).pipeline

    def spy(self):
        pipelines.append("pipeline")
        return opened(self)

    monkeypatch.setattr(type(connection), "pipeline", spy)
    first = claiming.claim("w1", host="h", now=T0)
    second = claiming.claim("w1", host="h", now=T0)
    assert first is not None and second is not None
    ok = Result(RunOutcome.SUCCEEDED, 0, "", None, 0.01, 0)
    one = finish.complete_attempt(first, ok, row=row, wants_next=lambda: True, now=T0 + 1)
    assert one.next is not None and pipelines == []
    group = [Ended(one.next, ok), Ended(second, ok)]
    done = finish.complete_attempts(group, row=row, wants_next=lambda: True, now=T0 + 2)
    assert all(completion.next is not None for completion in done)
    assert pipelines == ["pipeline"]
    states = dict(Job.select(Job.id, Job.state).tuples())
    assert sorted(states.values()) == ["completed"] * 3 + ["pending"] + ["processing"] * 2


@pytest.mark.postgres
def test_recovery_finds_a_jobs_open_run_by_its_index_in_a_worker_session(pg_url, monkeypatch):
    """Recovery runs in workers too, where sorting is off: its "the job's latest open
    run" is ordered by ``run``, which the ``(job_id, run)`` index gives, so it is one
    seek. Ordered by ``id``, the table's key, it read the whole run table backwards."""
    db.open_database(pg_url, claims_jobs=True)
    Worker.create(id="w1", pid=4242, host="h", started_at=T0, heartbeat_at=T0, state="busy")
    enqueuing.enqueue_many([JobSpec(command="true", id="lost")], now=T0)
    assert claiming.claim("w1", host="h", now=T0) is not None
    enqueuing.enqueue_many([JobSpec(command="true", id=f"old{n}") for n in range(100)], now=T0)
    database.execute_sql(
        "INSERT INTO queuectl_run (job_id, run, attempt, started_at, output)"
        " SELECT 'old' || (n %% 100), n / 100 + 1, 1, 0, ''"
        " FROM generate_series(0, 1999) AS n"
    )
    database.execute_sql("ANALYZE queuectl_run")
    sent: list[tuple[str, tuple]] = []
    execute = database.obj.execute_sql

    def spy(text, params=None, *args, **kwargs):
        sent.append((text, params))
        return execute(text, params, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", spy)
    assert recovery.recover_lost(lease_seconds=30, now=T0 + 31) == ["lost"]
    monkeypatch.undo()
    [(text, params)] = [
        (text, params) for text, params in sent if "queuectl_run" in text and "ORDER BY" in text
    ]
    plan = "\n".join(row[0] for row in database.execute_sql(f"EXPLAIN {text}", params))
    assert "queuectl_run_job_id_run" in plan and "Sort" not in plan, plan
    assert "queuectl_run_pkey" not in plan, plan


def test_a_schema_4_database_gains_the_hook_columns_keeping_its_jobs(db_url):
    db.open_database(db_url)
    [job] = enqueuing.enqueue_many([JobSpec(command="echo kept")])
    _as_schema_4()
    SchemaInfo.update(value="4").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION
    kept = Job.get_by_id(job)
    assert (kept.command, kept.on_success, kept.on_failure) == ("echo kept", None, None)


def test_a_schema_5_database_gains_the_queue_settings_and_keeps_its_jobs(db_url):
    """Schema 5 had no paused or limited queues: upgraded, every queue is open."""
    db.open_database(db_url)
    [job] = enqueuing.enqueue_many([JobSpec(command="echo kept")], now=T0)
    _as_schema_6()
    database.execute_sql("DROP TABLE queuectl_queue")
    if db.sqlite_path(db_url) is None:
        database.execute_sql("DROP FUNCTION queuectl_queue_has_room(text, text, boolean)")
    SchemaInfo.update(value="5").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    assert QueueSetting.select().count() == 0
    claim = claiming.claim("w1", now=T0)
    assert claim is not None and claim.job.id == job


def test_a_schema_6_database_gains_held_at_and_tty_and_its_jobs_stay_claimable(db_url):
    """Schema 6 had no hold: upgraded, every waiting job is unheld and runs without a tty."""
    db.open_database(db_url)
    [job] = enqueuing.enqueue_many([JobSpec(command="echo kept")], now=T0)
    _as_schema_6()
    SchemaInfo.update(value="6").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    kept = Job.get_by_id(job)
    assert (kept.command, kept.held_at, kept.tty) == ("echo kept", None, False)
    claim = claiming.claim("w1", now=T0)
    assert claim is not None and claim.job.id == job


def test_a_schema_8_database_gains_worker_slots_of_1(db_url):
    """Schema 8 had no slots: upgraded, every worker row ran one job at a time."""
    from queuectl.lifecycle.workers import Registration
    from queuectl.store.models import Worker

    db.open_database(db_url)
    Registration(worker_id="w7", pid=1, host="h").register(T0)
    _as_schema_8()
    SchemaInfo.update(value="8").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    assert Worker.get_by_id("w7").slots == 1


def test_a_schema_9_database_gains_dependencies_and_unique_keys(db_url):
    """Schema 9 had neither: upgraded, jobs keep running and a key is enforced at once."""
    db.open_database(db_url)
    [job] = enqueuing.enqueue_many([JobSpec(command="echo kept")], now=T0)
    _as_schema_9()
    SchemaInfo.update(value="9").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    kept = Job.get_by_id(job)
    assert (kept.unique_key, kept.taken_down_by) == (None, None)
    assert "queuectl_job_unique_key" in _indexes()
    enqueuing.enqueue_many([JobSpec(command="true", unique_key="k")], now=T0)
    try:
        enqueuing.enqueue_many([JobSpec(command="true", unique_key="k")], now=T0)
    except QueueError as exc:
        assert "unique key 'k'" in str(exc)
    else:
        raise AssertionError("a second holder of a key was admitted")
    claim = claiming.claim("w1", now=T0)
    assert claim is not None and claim.job.id == job


def test_a_schema_10_database_gains_the_outcome_in_its_finished_at_index(db_url):
    """The run index is replaced, not added to: the runs and status's figures stay."""
    db.open_database(db_url)
    enqueuing.enqueue_many([JobSpec(command="true"), JobSpec(command="false")], now=T0)
    for outcome in (RunOutcome.SUCCEEDED, RunOutcome.FAILED):
        claim = claiming.claim("w1", now=T0)
        assert claim is not None
        end_attempt(claim, outcome, now=T0 + 1)
    before = stats.recent(now=T0 + 2)
    _as_schema_10()
    SchemaInfo.update(value="10").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    indexes = {index.name for index in database.get_indexes("queuectl_run")}
    assert "queuectl_run_finished_at_outcome" in indexes
    assert "queuectl_run_finished_at" not in indexes
    assert Run.select().count() == 2
    assert stats.recent(now=T0 + 2) == before
    if is_postgres():
        assert _has_room_arguments() == ["queue_name", "ending_job", "take_lock"]
    assert before.per_minute == 1 / 5  # the success; the failed attempt is retried


def test_a_schema_11_database_gains_the_dlq_index_and_its_deaths_in_order(db_url):
    db.open_database(db_url)
    enqueuing.enqueue_many([JobSpec(command="false", max_retries=0) for _ in range(3)], now=T0)
    for second in (3, 1, 2):  # the first enqueued dies last
        claim = claiming.claim("w1", now=T0)
        assert claim is not None
        end_attempt(claim, RunOutcome.FAILED, now=T0 + second)
    _as_schema_11()
    SchemaInfo.update(value="11").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    assert "queuectl_job_dead_by_death" in _indexes()
    rows, total = reads.dead_window(limit=2, total=None, fields=("id", "finished_at"))
    assert [row["finished_at"] for row in rows] == [T0 + 3, T0 + 2] and total == 3


def test_a_schema_13_schedule_gains_its_last_ticks_fire(db_url):
    """Skip waits for the last tick's fire beside a ``cron run`` after it: an upgraded
    schedule whose last fire was a tick's knows it as its last tick's; a run's, none."""
    db.open_database(db_url)
    for name, last in (("tick", "tick:20261118T082640Z"), ("ran", "ran:20261118T082640Z.run7q")):
        Schedule.create(
            name=name,
            spec="@every 10s",
            job='{"command": "true", "cwd": "/"}',
            anchor=T0,
            created_at=T0,
            updated_at=T0,
            last_job_id=last,
        )
    _as_schema_13()
    SchemaInfo.update(value="13").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    found = dict(Schedule.select(Schedule.name, Schedule.last_tick_job_id).tuples())
    assert found == {"tick": "tick:20261118T082640Z", "ran": None}


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("queuectl_job", "run_at", "abc"),
        ("queuectl_job", "timeout", "x"),
        ("queuectl_job", "max_retries", "lots"),
        ("queuectl_job", "held_at", "yesterday"),
        ("queuectl_job", "command", b"\x00"),
        ("queuectl_worker", "pid", "x"),
        ("queuectl_run", "started_at", "now"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_the_store(db_url, table, column, value):
    """An attacker's try (as the database's owner): ``run_at = 'abc'`` written by hand
    took every worker down at its next idle look (``float('abc')``, logged as a clean
    stop) and ``list``, ``show`` and the dashboard failed on the row. PostgreSQL's
    columns refuse it; on SQLite, since schema 13, triggers do, on an upgraded file too."""
    if isinstance(value, bytes) and db_url.startswith("postgresql"):
        pytest.skip("a blob is SQLite's: psycopg sends bytes that PostgreSQL stores as text")
    db.open_database(db_url)
    enqueuing.enqueue(JobSpec(command="true", id="j"), now=T0)
    claim = claiming.claim("w1", now=T0)
    assert claim is not None
    Worker.create(id="w1", pid=1, host="h", started_at=T0, heartbeat_at=T0)
    _as_schema_12()
    SchemaInfo.update(value="12").where(SchemaInfo.key == "schema_version").execute()
    db.close_database()

    db.open_database(db_url)
    assert schema.schema_version() == SCHEMA_VERSION == 14
    before = {model: list(model.select().tuples()) for model in (Job, Run, Worker)}
    with pytest.raises(peewee.DatabaseError) as refused, database.atomic():
        database.execute_sql(f"UPDATE {table} SET {column} = {database.param}", (value,))
    if not is_postgres():
        assert f"{table}: a value of the wrong type" in str(refused.value)
    assert {model: list(model.select().tuples()) for model in (Job, Run, Worker)} == before
    # queuectl's own writes pass: a number that is a whole REAL, NULL where allowed.
    Job.update(run_at=T0 + 1, timeout=None, held_at=T0).execute()
    db.close_database()


def test_the_dlq_reads_its_partial_index_from_the_end_on_sqlite(db_path):
    """The dashboard's DLQ is the latest deaths: at 100k dead jobs, 500 index entries
    read backwards, no sort and no other job looked at."""
    db.open_database(db_path)
    seen: list[str] = []
    database.connection().set_trace_callback(seen.append)
    reads.dead_window(limit=500, total=0)
    database.connection().set_trace_callback(None)
    [select] = [statement for statement in seen if statement.startswith("SELECT")]
    plan = " ".join(str(row) for row in database.execute_sql(f"EXPLAIN QUERY PLAN {select}"))
    assert "queuectl_job_dead_by_death" in plan and "TEMP B-TREE" not in plan, plan


def test_status_counts_the_windows_successes_from_the_run_index_alone(db_path):
    """SQLite: no row is read for the window's count (at 100,000 runs, 21 ms -> 4 ms)."""
    from queuectl.store import statsql

    db.open_database(db_path)
    statement = statsql.finished_since_sql("?", "sqlite")
    plan = " | ".join(
        row[3] for row in database.execute_sql(f"EXPLAIN QUERY PLAN {statement}", (T0, T0))
    )
    assert "COVERING INDEX queuectl_run_finished_at_outcome" in plan, plan
    # Its deaths from the DLQ's index: the (state, seq) one would read the whole DLQ.
    assert "INDEX queuectl_job_dead_by_death (finished_at>?)" in plan, plan


def _first_use(url: str, barrier: Any, out: Any) -> None:
    """One process's first use of a new schema: open it (creating the tables) and enqueue."""
    try:
        barrier.wait(timeout=30)
        db.open_database(url)
        enqueuing.enqueue(JobSpec(command="true"), cwd="/")
        db.close_database()
        out.put("ok")
    except BaseException as exc:
        out.put(repr(exc))


@pytest.mark.timeout(120)
def test_processes_opening_a_new_postgresql_schema_at_once_create_it_once(bare_pg_url):
    """A failed look for the missing table ended the lock's transaction: processes started
    at once all created the tables, and most failed on the catalog's "duplicate key"
    (``add``: 7 of 12; ``worker start`` on two hosts: one of them)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(6), context.Queue()
    procs = [context.Process(target=_first_use, args=(bare_pg_url, barrier, out)) for _ in range(6)]
    for proc in procs:
        proc.start()
    outcomes = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    assert outcomes == ["ok"] * 6
    db.open_database(bare_pg_url)
    assert Job.select().count() == 6


def test_a_row_that_held_a_wrong_value_before_the_guard_can_still_be_changed(db_path):
    """A reviewer's catch: a row holding text in a number column from before schema 13
    made every later write to it fail (``cancel --all`` refused whole, naming nothing).
    Only a value the statement changes is looked at."""
    db.open_database(db_path)
    enqueuing.enqueue(JobSpec(command="true", id="old"), now=T0)
    for name in trigger_names(Job):
        database.execute_sql(f"DROP TRIGGER {name}")
    Job.update(timeout="x").where(Job.id == "old").execute()  # written before the guard
    schema.guard_column_types()
    Job.update(state="cancelled", updated_at=T0 + 1).where(Job.id == "old").execute()
    assert Job.get_by_id("old").state == "cancelled"
    wrong = "queuectl_job: a value of the wrong type"
    with pytest.raises(peewee.DatabaseError, match=wrong), database.atomic():
        Job.update(max_retries="lots").where(Job.id == "old").execute()
    db.close_database()
