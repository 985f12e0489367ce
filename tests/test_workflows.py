"""Workflows: dependencies between jobs (``after``, ``blocked``) and unique keys, on both
backends, in-process with the clock passed in (nothing waits on wall time)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from queuectl.errors import InvalidTransition, JobNotFound, KeyTaken, ValidationError
from queuectl.jobspec import JobSpec, parse_lines, parse_spec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import deps, manage, reads, recovery, settings
from queuectl.lifecycle import edit as editing
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle.hooks import HookCall
from queuectl.store import db
from queuectl.store.models import Job, JobState, RunOutcome
from tests.conftest import T0, end_attempt

pytestmark = pytest.mark.usefixtures("opened")


def add(command: str = "true", **fields) -> str:
    return enqueuing.enqueue(JobSpec(command=command, **fields), now=T0, cwd="/tmp").id


def state(job_id: str) -> str:
    return reads.get_job(job_id).state


def run_next(outcome: RunOutcome = RunOutcome.SUCCEEDED, now: float = T0) -> str | None:
    """Claim the next job and end it with ``outcome``; its id, or None when none is due."""
    claim = claiming.claim("w1", host="h", now=now)
    if claim is None:
        return None
    end_attempt(claim, outcome, exit_code=0 if outcome == RunOutcome.SUCCEEDED else 1, now=now)
    return claim.job.id


def drain(now: float = T0) -> list[str]:
    ran = []
    while (job_id := run_next(now=now)) is not None:
        ran.append(job_id)
    return ran


# --- dependencies -------------------------------------------------------------------------


def test_a_chain_runs_in_order_and_a_blocked_job_is_never_claimed():
    add("a", id="a")
    add("b", id="b", after=("a",))
    add("c", id="c", after=("b",))
    assert [state(i) for i in "abc"] == ["pending", "blocked", "blocked"]
    assert run_next() == "a"
    assert [state(i) for i in "bc"] == ["pending", "blocked"]
    assert drain() == ["b", "c"]
    assert claiming.claim("w1", host="h", now=T0) is None


def test_a_diamond_runs_its_join_once_after_both_sides():
    add(id="a")
    add(id="b", after=("a",))
    add(id="c", after=("a",))
    add(id="d", after=("b", "c"))
    assert run_next() == "a"
    assert run_next() == "b"
    assert state("d") == "blocked"  # c has not completed yet
    assert drain() == ["c", "d"]


def test_a_dead_dependency_takes_its_dependents_down_and_a_retry_revives_them():
    add("false", id="a", max_retries=0)
    add(id="b", after=("a",))
    add(id="c", after=("b",))
    add(id="free")
    assert run_next(RunOutcome.FAILED) == "a"
    b, c = reads.get_job("b"), reads.get_job("c")
    assert (b.state, b.last_error, b.attempts) == ("dead", "dependency a is dead", 0)
    assert (c.state, c.last_error) == ("dead", "dependency b is dead")
    assert {job.id for job in reads.list_jobs(states=[JobState.DEAD])} == {"a", "b", "c"}
    assert drain() == ["free"]  # neither ran

    assert manage.retry(["a"], now=T0) == ["a"]
    assert [state(i) for i in "abc"] == ["pending", "blocked", "blocked"]
    assert reads.get_job("c").last_error is None
    assert drain() == ["a", "b", "c"]


def test_retrying_a_dependent_of_a_dead_job_is_refused_but_a_batch_retries_both():
    add("false", id="a", max_retries=0)
    add(id="b", after=("a",))
    run_next(RunOutcome.FAILED)
    with pytest.raises(InvalidTransition, match="waits for dependency a, which is dead"):
        manage.retry(["b"], now=T0)
    assert state("b") == "dead"
    # Named dependent first: the batch still retries the dependency first.
    outcome = manage.act(manage.DLQ_RETRY, ["b", "a"], now=T0)
    assert [job.id for job in outcome.changed] == ["a", "b"] and not outcome.refused
    assert [state("a"), state("b")] == ["pending", "blocked"]
    assert drain() == ["a", "b"]


def test_cancel_and_delete_take_dependents_down_naming_how_it_ended():
    add(id="a")
    add(id="b", after=("a",))
    add(id="x")
    add(id="y", after=("x",))
    manage.cancel("a", now=T0)
    manage.delete("x")
    assert reads.get_job("b").last_error == "dependency a is cancelled"
    assert reads.get_job("y").last_error == "dependency x was deleted"
    assert [state("b"), state("y")] == ["dead", "dead"]
    # A deleted dependency is gone: its dependent may be retried, and runs on its own.
    assert manage.retry(["y"], now=T0) == ["y"]
    assert state("y") == "pending"


def test_recovery_of_a_lost_dependency_out_of_retries_cascades():
    add(id="a", max_retries=0)
    add(id="b", after=("a",))
    add("echo c", id="c", after=("b",), queue="q2")
    settings.set_value("on_failure", "notify")
    claiming.claim("ghost", host="h", now=T0)
    hooks: list[HookCall] = []
    recovery.recover_lost(lease_seconds=30, now=T0 + 31, after_commit=hooks.append)
    assert [state("a"), state("b"), state("c")] == ["dead", "dead", "dead"]
    assert reads.get_job("b").last_error == "dependency a is dead"
    # Recovery committed the deaths, so it hands over every one's hook, the cascade's too.
    told = [(h.job_id, h.state, h.exit_code, h.attempt, h.queue, h.job_command) for h in hooks]
    assert told == [
        ("a", "dead", None, 1, "default", "true"),
        ("b", "dead", None, 0, "default", "true"),
        ("c", "dead", None, 0, "q2", "echo c"),
    ]


def test_enqueue_refuses_bad_dependencies_and_stores_nothing():
    add("false", id="gone", max_retries=0)
    run_next(RunOutcome.FAILED)
    before = Job.select().count()
    with pytest.raises(JobNotFound, match="no job with id 'nope' to run after"):
        add(after=("nope",))
    with pytest.raises(InvalidTransition, match="dependency gone is dead"):
        add(after=("gone",))
    with pytest.raises(ValidationError, match="names the job itself"):
        parse_spec({"command": "x", "id": "me", "after": "me"})
    with pytest.raises(ValidationError, match="at most 100"):
        parse_spec({"command": "x", "after": [f"j{n}" for n in range(101)]})
    with pytest.raises(ValidationError, match='"after" must be a job id or a list'):
        parse_spec({"command": "x", "after": 7})
    # A later line is not "earlier in the file": the whole file is refused.
    lines = ['{"command": "x", "after": "second"}', '{"command": "y", "id": "second"}']
    with pytest.raises(JobNotFound, match="line 1: no job with id 'second'"):
        enqueuing.enqueue_many(parse_lines(lines), now=T0)
    assert Job.select().count() == before


def test_a_file_may_name_earlier_lines_as_dependencies():
    add(id="done")
    drain()
    specs = parse_lines(
        [
            '{"command": "build", "id": "build", "after": "done"}',
            '{"command": "test", "id": "test", "after": ["build"]}',
            '{"command": "ship", "after": ["build", "test"]}',
        ]
    )
    build, test, ship = enqueuing.enqueue_many(specs, now=T0)
    assert [state(build), state(test), state(ship)] == ["pending", "blocked", "blocked"]
    dependencies, dependents = deps.links(build)
    assert [(link.id, link.state) for link in dependencies] == [("done", "completed")]
    assert [link.id for link in dependents] == ["test", ship]
    assert deps.waiting_for([ship]) == {ship: ["build", "test"]}
    assert drain() == [build, test, ship]


def test_purge_keeps_a_completed_job_an_unfinished_job_depends_on():
    add(id="a")
    add(id="other")
    add(id="b", after=("a",), delay=3600)  # due later: a completes, b waits
    assert run_next() == "a" and run_next() == "other"
    assert state("b") == "pending"
    assert manage.purge([JobState.COMPLETED], now=T0) == 1  # "other" only
    assert state("a") == "completed"
    assert drain(now=T0 + 3600) == ["b"]
    assert manage.purge([JobState.COMPLETED], now=T0 + 3600) == 2


def test_a_blocked_job_can_be_held_edited_and_cancelled():
    add(id="a")
    add("old", id="b", after=("a",))
    assert editing.edit("b", {"command": "new"}, now=T0).job.state == "blocked"
    with pytest.raises(ValidationError, match='"after" cannot be edited'):
        editing.edit("b", {"after": []}, now=T0)
    manage.act(manage.HOLD, ["b"], now=T0)
    run_next()
    assert (state("b"), reads.get_job("b").held_at) == ("pending", T0)
    assert manage.cancel("b", now=T0).state == "cancelled"


# --- unique keys --------------------------------------------------------------------------


def test_a_unique_key_admits_one_active_job_and_frees_when_it_ends():
    first = add(unique_key="nightly")
    with pytest.raises(
        KeyTaken, match=f"unique key 'nightly' is held by job {first} \\(pending\\)"
    ):
        add(unique_key="nightly")
    same = enqueuing.enqueue(JobSpec(command="x", unique_key="nightly"), now=T0, if_absent=True)
    assert same.id == first
    assert Job.select().count() == 1
    drain()
    second = add(unique_key="nightly")
    assert second != first and state(second) == "pending"


def test_a_file_with_a_held_key_fails_whole_or_with_if_absent_points_at_the_holder():
    holder = add(unique_key="k1")
    lines = [
        '{"command": "a", "unique_key": "k2"}',
        '{"command": "b", "unique_key": "k1"}',
        '{"command": "c", "unique_key": "k2"}',
    ]
    with pytest.raises(KeyTaken, match=f"line 2: unique key 'k1' is held by job {holder}"):
        enqueuing.enqueue_many(parse_lines(lines), now=T0)
    assert Job.select().count() == 1
    ids = enqueuing.enqueue_many(parse_lines(lines), now=T0, if_absent=True)
    assert ids[1] == holder and ids[2] == ids[0] != holder
    assert Job.select().count() == 2


def test_retry_edit_and_clone_are_refused_while_another_job_holds_the_key():
    old = add("false", unique_key="k", max_retries=0)
    run_next(RunOutcome.FAILED)
    new = add(unique_key="k")
    line = f"unique key 'k' is held by job {new} \\(pending\\)"
    with pytest.raises(KeyTaken, match=line):
        manage.retry([old], now=T0)
    with pytest.raises(KeyTaken, match=line):
        editing.edit(old, {"command": "true"}, now=T0)
    with pytest.raises(KeyTaken, match=line):
        editing.clone(old, now=T0)
    assert state(old) == "dead"
    drain()
    assert manage.retry([old], now=T0) == [old]


def _enqueue_with_key(location: str, results) -> None:  # type: ignore[no-untyped-def]
    db.open_database(location)
    try:
        results.put(enqueuing.enqueue(JobSpec(command="true", unique_key="once")).id)
    except KeyTaken as exc:
        results.put(f"refused: {exc}")


@pytest.mark.timeout(60)
def test_concurrent_enqueues_of_one_key_from_eight_processes_admit_exactly_one(db_url):
    db.close_database()
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    results = context.Queue()
    procs = [context.Process(target=_enqueue_with_key, args=(db_url, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    answers = [results.get(timeout=50) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    db.open_database(db_url)
    admitted = [a for a in answers if not a.startswith("refused")]
    assert len(admitted) == 1, answers
    assert all(f"held by job {admitted[0]}" in a for a in answers if a.startswith("refused"))
    assert Job.select().where(Job.unique_key == "once").count() == 1


def test_the_database_itself_refuses_a_second_holder_and_the_refusal_names_it(monkeypatch):
    import peewee

    from queuectl.lifecycle import unique

    done = add("false", unique_key="k2", max_retries=0)
    run_next(RunOutcome.FAILED)
    first = add(unique_key="k")
    with pytest.raises(peewee.IntegrityError), db.database.atomic():
        Job.update(unique_key="k", state="pending").where(Job.id == done).execute()
    # A writer that raced past the look (no holder seen) is still refused, by the index,
    # and the refusal names the holder as it is seen after the write failed.
    monkeypatch.setattr(enqueuing, "_keys_held", lambda specs, lines, if_absent: {})
    with pytest.raises(KeyTaken, match=f"unique key 'k' is held by job {first} \\(pending\\)"):
        add(unique_key="k")
    assert unique.is_key_conflict(Exception('violates "queuectl_job_unique_key"'))
    assert Job.select().where(Job.unique_key == "k").count() == 1


def _raced_past_the_look(monkeypatch) -> None:
    """The look before a write sees no holder (another writer's commit comes after it);
    the index's refusal is then read as it is seen after the write failed."""
    from queuectl.lifecycle import unique

    real = unique.holders
    calls = []

    def once_empty(keys):
        calls.append(1)
        return {} if len(calls) == 1 else real(keys)

    monkeypatch.setattr(unique, "holders", once_empty)


def test_a_refusal_by_the_index_after_a_race_names_the_job_or_line_as_the_look_does(
    monkeypatch,
):
    """On PostgreSQL the race's refusal said "unique key 'k' is held by …" where the
    look's said "job d1: unique key …": a script could not tell which job was refused."""
    holder = add(unique_key="k", delay=3600)
    dead = add("false", max_retries=0, unique_key="k2")
    run_next(RunOutcome.FAILED)
    Job.update(unique_key="k").where(Job.id == dead).execute()  # as a raced edit would leave it
    _raced_past_the_look(monkeypatch)
    with pytest.raises(KeyTaken) as retried:
        manage.act(manage.RETRY, [dead], now=T0)
    assert str(retried.value).startswith(f"job {dead}: unique key 'k' is held by job {holder}")
    other = add(unique_key="k3", delay=3600)
    _raced_past_the_look(monkeypatch)
    with pytest.raises(KeyTaken) as edited:
        editing.edit(other, {"unique_key": "k"}, now=T0)
    assert str(edited.value).startswith(f"job {other}: unique key 'k' is held by job {holder}")
    _raced_past_the_look(monkeypatch)
    lines = [JobSpec(command="true", unique_key=key) for key in ("free", "k")]
    with pytest.raises(KeyTaken, match=f"^line 2: unique key 'k' is held by job {holder}"):
        enqueuing.enqueue_many(lines, now=T0, cwd="/")


def test_a_batch_retry_names_the_job_of_its_own_that_took_a_shared_key():
    """Two cancelled jobs share a key: the second is refused for the first, which this very
    retry brings back, and the refusal said "held by job d1 (retried)", not a state."""
    first = add(unique_key="k9", delay=3600)
    manage.act(manage.CANCEL, [first], now=T0)
    second = add(unique_key="k9", delay=3600)
    manage.act(manage.CANCEL, [second], now=T0)
    outcome = manage.act(manage.RETRY, [first, second], now=T0)
    assert [job.id for job in outcome.changed] == [first]
    [error] = outcome.refused
    assert str(error) == (
        f"job {second}: unique key 'k9' is held by job {first} (retried by this command)"
    )
