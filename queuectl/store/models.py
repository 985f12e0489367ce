"""Peewee models: the only place the schema is spelled out.

Models bind to ``database``, a proxy that ``db.open_database`` initialises once
per process, so the CLI, a worker and the tests can each point the same models
at their own file or server.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import SQL as SqlFragment
from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    DatabaseProxy,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from queuectl.states import (
    CLAIMABLE_STATES,
    FINISHED_STATES,
    JobState,
    RunOutcome,
    WorkerState,
)

database = DatabaseProxy()

SCHEMA_VERSION = 14
"""Bumped whenever the tables change; ``schema.ensure_schema`` upgrades older files to it."""


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Job(BaseModel):
    """One shell command and everything the queue knows about it."""

    id = CharField(primary_key=True, max_length=64)
    command = TextField()
    queue = CharField(max_length=64, default="default")
    state = CharField(max_length=16, default=JobState.PENDING.value)
    priority = IntegerField(default=0)
    attempts = IntegerField(default=0)
    max_retries = IntegerField()
    timeout = DoubleField(null=True)
    run_at = DoubleField()
    cwd = TextField()
    env = TextField(null=True)
    """Variables set over the worker's environment: a JSON object of strings, or NULL."""
    on_success = TextField(null=True)
    """Shell command run once the job completes, instead of the ``on_success`` setting
    (NULL: the setting's; "": none for this job). Schema 5."""
    on_failure = TextField(null=True)
    """The same, once the job goes dead. Schema 5."""
    seq = BigIntegerField()
    """Enqueue order, unique and increasing (lines of one file in file order). A bulk
    enqueue shares one ``created_at``, so time alone cannot order it; the random id
    broke those ties at random before schema 4."""
    created_at = DoubleField()
    updated_at = DoubleField()
    started_at = DoubleField(null=True)
    finished_at = DoubleField(null=True)
    worker_id = CharField(max_length=64, null=True)
    exit_code = IntegerField(null=True)
    last_error = TextField(null=True)
    output = TextField(null=True)
    output_bytes = BigIntegerField(null=True)
    """Bytes the latest run printed in all (``output`` keeps the tail); NULL before schema 4."""
    held_at = DoubleField(null=True)
    """When ``hold`` kept this waiting job from starting; NULL when it may run (schema 5)."""
    tty = BooleanField(default=False)
    """Run under a pseudo-terminal (schema 5)."""
    unique_key = CharField(max_length=200, null=True)
    """At most one job in a ``ACTIVE_STATES`` state has this key: a partial unique
    index (``sql.UNIQUE_KEY_INDEX``) enforces it, across processes and hosts (schema 8)."""
    taken_down_by = CharField(max_length=64, null=True)
    """The dependency whose end (dead, cancelled or deleted) sent this blocked job to
    ``dead`` without running: retrying that dependency revives it (schema 8)."""

    class Meta:
        table_name = "queuectl_job"
        indexes = (
            # `list --state`, the DLQ and per-state counts; newest first.
            (("state", "seq"), False),
            # The dashboard and `list` sort newest first: SQLite walks this
            # index backwards and stops at the limit (sorting every job instead
            # cost 105 ms at 100k). Unique: the proof that enqueues never share
            # a number. (The claim has its own partial index, created in
            # schema.ensure_schema from sql.py.)
            (("seq",), True),
            # No index on worker_id (schema 1 had one): every lookup by worker
            # also filters on state = 'processing', a handful of rows, and each
            # job moved that index twice (2 of 15 pages written per job).
        )


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job row as the claim returned it: what a worker needs to run it.

    A plain record, not a ``Job`` model: building a peewee model from the
    claim's row cost about 8% of a worker's per-job transaction (callgrind).
    Fields are ``Job``'s columns in the same order (a test checks).
    """

    id: str
    command: str
    queue: str
    state: str
    priority: int
    attempts: int
    max_retries: int
    timeout: float | None
    run_at: float
    cwd: str
    env: str | None
    on_success: str | None
    on_failure: str | None
    seq: int
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    worker_id: str | None
    exit_code: int | None
    last_error: str | None
    output: str | None
    output_bytes: int | None
    held_at: float | None
    tty: bool
    unique_key: str | None
    taken_down_by: str | None


class Run(BaseModel):
    """One attempt at a job; the history `show` and the dashboard display."""

    id = AutoField()
    # index=False: the (job, attempt) index serves every lookup by job; a second
    # index on job alone (schema 1) was one more page written per job.
    job = ForeignKeyField(
        Job, backref="runs", on_delete="CASCADE", column_name="job_id", index=False
    )
    run = IntegerField()
    """1, 2, 3 … within the job, never repeated: ``attempt`` restarts at 1 when a job is
    retried, and an interrupted attempt is given back, so attempts alone repeat."""
    attempt = IntegerField()
    worker_id = CharField(max_length=64, null=True)
    host = CharField(max_length=255, null=True)
    pgid = IntegerField(null=True)
    started_at = DoubleField()
    finished_at = DoubleField(null=True)
    exit_code = IntegerField(null=True)
    outcome = CharField(max_length=16, null=True)
    error = TextField(null=True)
    output = TextField(default="")
    output_bytes = BigIntegerField(null=True)
    """Bytes the attempt printed in all, of which ``output`` is the tail; NULL before schema 4."""
    duration = DoubleField(null=True)

    class Meta:
        table_name = "queuectl_run"
        indexes = (
            # Every lookup by job, and the next run number (MAX(run) of a job);
            # unique, so two runs of a job can never share a number.
            (("job", "run"), True),
            # Throughput over time for the dashboard sparkline and ``stats``; with the
            # outcome, ``status`` counts a window's successes from the index alone.
            (("finished_at", "outcome"), False),
        )


class Dependency(BaseModel):
    """``job`` runs only once ``depends_on`` completed (the job key ``after``).

    ``depends_on`` is a plain id, not a foreign key: a finished dependent keeps
    naming a dependency that was purged since. (Purge never deletes a job that an
    unfinished job depends on.) Deleting the dependent deletes its rows.
    """

    job = ForeignKeyField(
        Job, backref="dependencies", on_delete="CASCADE", column_name="job_id", index=False
    )
    depends_on = CharField(max_length=64)
    position = IntegerField(default=0)
    """Its place in the job's ``after`` list: ``show`` lists them as given."""

    class Meta:
        table_name = "queuectl_dependency"
        primary_key = CompositeKey("job", "depends_on")
        indexes = (
            # Who waits for a job: asked each time a job completes or ends dead.
            (("depends_on",), False),
        )


class Worker(BaseModel):
    """A worker process, as registered by itself; the stop request travels through here."""

    id = CharField(primary_key=True, max_length=64)
    pid = IntegerField()
    host = CharField(max_length=255)
    queues = TextField(default="default")
    state = CharField(max_length=16, default=WorkerState.IDLE.value)
    current_job = CharField(max_length=64, null=True)
    started_at = DoubleField()
    heartbeat_at = DoubleField()
    stopped_at = DoubleField(null=True)
    jobs_done = IntegerField(default=0)
    jobs_failed = IntegerField(default=0)
    stop_requested = CharField(max_length=16, null=True)
    log_path = TextField(null=True)
    slots = IntegerField(default=1, constraints=[SqlFragment("DEFAULT 1")])
    """How many jobs the worker runs at once (``worker run --slots``); DEFAULT 1 in the
    table too, as the migration adds it, so a row written without it means one."""

    class Meta:
        table_name = "queuectl_worker"
        indexes = ((("state",), False),)


class Setting(BaseModel):
    """A configuration value that differs from its default (validated by ``config``)."""

    key = CharField(primary_key=True, max_length=64)
    value = TextField()

    class Meta:
        table_name = "queuectl_setting"


class QueueSetting(BaseModel):
    """How a queue is steered: paused, and at most how many of its jobs run at once.

    A row exists only while a queue is paused or limited (``lifecycle.queues``
    deletes it when both are lifted), so with no queue steered the claim's look
    at this table reads an empty b-tree. The claim applies both rules itself
    (``sql.claimable``).
    """

    name = CharField(primary_key=True, max_length=64)
    paused = BooleanField(default=False)
    max_running = IntegerField(null=True)
    """At most this many of the queue's jobs ``processing`` at once; NULL: no limit."""
    updated_at = DoubleField()

    class Meta:
        table_name = "queuectl_queue"


class Schedule(BaseModel):
    """A recurring job: a spec, a zone and a job template, fired by the live workers.

    ``next_fire_at`` is the proof of a fire: a worker fires the tick it read only
    if its guarded update (``WHERE next_fire_at = the tick``) changes this row, so
    however many workers and hosts look at once, one of them fires each tick
    (``lifecycle.schedules``). Schema 8.
    """

    name = CharField(primary_key=True, max_length=40)
    spec = TextField()
    zone = CharField(max_length=64, default="UTC")
    job = TextField()
    """The job template: what ``enqueue`` takes, as a JSON object, ``cwd`` filled in."""
    catchup = DoubleField(default=0.0)
    """Seconds: after an outage, the latest missed tick this recent is fired once."""
    overlap = CharField(max_length=8, default="skip")
    paused = BooleanField(default=False)
    anchor = DoubleField()
    """``@every``: the whole second its ticks count from (when added, or its spec edited)."""
    next_fire_at = DoubleField(null=True)
    """The next tick not yet handled (fired or skipped); NULL when the spec has no more."""
    last_fired_at = DoubleField(null=True)
    """When the latest fire (a tick's or a ``cron run``) was enqueued."""
    last_job_id = CharField(max_length=64, null=True)
    """The latest fire's job: a tick's or a ``cron run``'s."""
    last_tick_job_id = CharField(max_length=64, null=True)
    """The latest tick's fire, beside ``last_job_id`` once a ``cron run`` came after it:
    ``--overlap skip`` waits for both (schema 14)."""
    skipped = IntegerField(default=0)
    """Ticks not fired: missed while no worker was alive, or overlapping a running fire."""
    created_at = DoubleField()
    updated_at = DoubleField()

    class Meta:
        table_name = "queuectl_schedule"


class SchemaInfo(BaseModel):
    """Facts about the database itself: today only the schema version."""

    key = CharField(primary_key=True, max_length=64)
    value = TextField()

    class Meta:
        table_name = "queuectl_meta"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    SchemaInfo,
    Setting,
    Job,
    Run,
    Worker,
    QueueSetting,
    Schedule,
    Dependency,
)

__all__ = [
    "ALL_MODELS",
    "CLAIMABLE_STATES",
    "FINISHED_STATES",
    "SCHEMA_VERSION",
    "ClaimedJob",
    "Dependency",
    "Job",
    "JobState",
    "QueueSetting",
    "Run",
    "RunOutcome",
    "Schedule",
    "SchemaInfo",
    "Setting",
    "Worker",
    "WorkerState",
    "database",
]
