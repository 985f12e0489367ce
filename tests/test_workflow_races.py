"""Dependencies under PostgreSQL's read committed: two transactions that each miss the
other's write must not leave a job blocked for ever. Each race is played out step by
step with a second connection standing for another process, so it happens every time;
and a dependency's id taken by a new job after a delete (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import deps, finish, manage, reads, recovery
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle.policy import Result
from queuectl.lifecycle.workers import Registration
from queuectl.states import JobState, RunOutcome
from queuectl.store import db, sql
from tests.conftest import T0


def add(command: str = "true", **fields) -> str:
    return enqueuing.enqueue(JobSpec(command=command, **fields), now=T0, cwd="/tmp").id


@pytest.fixture
def other(pg_url) -> Iterator[object]:
    """This test's PostgreSQL schema opened, and a second connection to it: another
    process, whose transaction is begun, written and committed when the test says."""
    psycopg = pytest.importorskip("psycopg")
    db.open_database(pg_url)
    connection = psycopg.connect(pg_url)
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


def complete_unseen(connection, job_id: str) -> None:
    """``job_id`` completed by another process, as its finish does: the job moved and its
    dependents unblocked in one transaction, left open (not visible here yet)."""
    connection.execute(
        "UPDATE queuectl_job SET state = 'completed', updated_at = %s WHERE id = %s",
        (T0 + 1, job_id),
    )
    connection.execute(sql.statement(sql.UNBLOCK, "%s"), (T0 + 1, job_id, job_id))


def test_two_branches_completing_at_once_unblock_their_join(other, monkeypatch) -> None:
    """Each branch's finish saw the other still running, and neither unblocked the join:
    5 joins of 40 stayed blocked for good under 8 workers."""
    left, right = add("left"), add("right")
    join = add("join", after=(left, right))
    row = Registration(worker_id="w1", pid=1, host="h")
    row.register(T0)
    claim = claiming.claim("w1", host="h", now=T0)
    assert claim is not None and claim.job.id == left
    complete_unseen(other, right)  # the other worker's finish, begun first
    looked = deps.blocked_dependents

    def commit_first(job_id: str) -> list[str]:
        other.commit()  # the other finish commits after this one's statement
        return looked(job_id)

    monkeypatch.setattr(deps, "blocked_dependents", commit_first)
    result = Result(RunOutcome.SUCCEEDED, 0, "", None, output_bytes=0)
    done = finish.complete_attempt(claim, result, row=row, wants_next=lambda: True, now=T0 + 2)
    assert done.state == JobState.COMPLETED
    assert reads.get_job(join).state == JobState.PENDING


def test_a_job_added_after_one_completing_unseen_is_not_left_blocked(other, monkeypatch) -> None:
    """Stored blocked while its dependency's finish, not seeing it, unblocked nothing."""
    first = add("first")
    complete_unseen(other, first)
    mend = deps.mend

    def commit_first(job_ids, now):
        other.commit()
        return mend(job_ids, now)

    monkeypatch.setattr(deps, "mend", commit_first)
    assert reads.get_job(add("then", after=(first,))).state == JobState.PENDING


def test_a_job_added_after_one_being_cancelled_is_taken_down(other, monkeypatch) -> None:
    """The cancel, not seeing the new dependent yet, took nothing down; the enqueue had
    seen the dependency pending: the dependent waited for a cancelled job for ever."""
    elsewhere = add("elsewhere", queue="nobody")
    doomed = add("doomed")
    dependent = add("dependent", after=(elsewhere,))
    other.execute(  # the other process's enqueue, its dependency rows written, not committed
        "INSERT INTO queuectl_dependency (job_id, depends_on, position) VALUES (%s, %s, 1)",
        (dependent, doomed),
    )
    looked = deps.blocked_dependents

    def commit_first(job_id: str) -> list[str]:
        other.commit()
        return looked(job_id)

    monkeypatch.setattr(deps, "blocked_dependents", commit_first)
    outcome = manage.act(manage.CANCEL, [doomed], now=T0 + 1)
    assert outcome.taken_down == [dependent]
    dead = reads.get_job(dependent)
    assert (dead.state, dead.last_error) == (JobState.DEAD, f"dependency {doomed} is cancelled")


def _stuck(other) -> tuple[str, str, str]:
    """A join left blocked with both branches completed, and a job left waiting for a
    cancelled one: what the races leave when the process that would look again dies."""
    left, right = add("left"), add("right")
    join = add("join", after=(left, right))
    complete_unseen(other, right)
    here = db.database.obj
    here.execute_sql("UPDATE queuectl_job SET state = 'completed' WHERE id = %s", (left,))
    other.commit()
    doomed = add("doomed")
    waiting = add("waiting", after=(doomed,))
    here.execute_sql("UPDATE queuectl_job SET state = 'cancelled' WHERE id = %s", (doomed,))
    assert reads.get_job(join).state == reads.get_job(waiting).state == JobState.BLOCKED
    return join, waiting, doomed


def test_the_recovery_sweep_moves_what_a_race_left_blocked(other) -> None:
    join, waiting, doomed = _stuck(other)
    hooks: list[object] = []
    mended = recovery.mend_blocked(after_commit=hooks.append, now=T0 + 5)
    assert mended.unblocked == (join,)
    assert [down.id for down in mended.taken_down] == [waiting]
    assert reads.get_job(join).state == JobState.PENDING
    dead = reads.get_job(waiting)
    assert (dead.state, dead.last_error) == (JobState.DEAD, f"dependency {doomed} is cancelled")
    assert not recovery.mend_blocked(now=T0 + 6), "nothing left to mend"


@pytest.mark.usefixtures("opened")
def test_a_new_job_taking_a_deleted_dependencys_id_has_no_dependents(db_url) -> None:
    """A dependent of a deleted ``a`` waited for the new ``a`` and was taken down when
    it was cancelled; a retried dependent and a new job could wait for each other."""
    done = add("done", id="a")
    other_dependency = add("elsewhere", id="c", queue="nobody")
    claim = claiming.claim("w1", host="h", now=T0)
    assert claim is not None and claim.job.id == done
    finish.complete_attempt(claim, Result(RunOutcome.SUCCEEDED, 0, "", None), now=T0 + 1)
    dependent = add("dependent", id="b", after=("a", other_dependency))
    manage.act(manage.DELETE, ["a"], now=T0 + 2)
    add("unrelated", id="a", queue="nobody")
    manage.act(manage.CANCEL, ["a"], now=T0 + 3)
    assert reads.get_job(dependent).state == JobState.BLOCKED  # still waiting for c alone
    assert deps.waiting_for([dependent]) == {dependent: ["c"]}
