"""A Hypothesis state machine over the queue's transitions, checked against a model.

Random sequences of enqueue / claim / finish (success, failure, timeout,
interrupt) / retry / cancel / delete / recover-lost / pause, resume and limit a
queue / time passing, with the
invariants of README's lifecycle checked after every step.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from queuectl.errors import InvalidTransition, JobNotFound
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import manage, reads, recovery
from queuectl.lifecycle import queues as steering
from queuectl.lifecycle import settings as stored_settings
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run, RunOutcome, Worker, WorkerState
from tests.conftest import T0, end_attempt

LEASE = 30.0
BASE = 2.0
CAP = 100.0
QUEUES = ("default", "mail")
SERVED = [("default",), ("mail",), ("default", "mail")]
"""The queue sets a worker may serve: the claim and the next-due query filter by them."""


@dataclass
class Expected:
    """What the model believes about one job."""

    state: JobState
    attempts: int
    max_retries: int
    run_at: float
    seq: int
    """Enqueue order: the claim's tie-break after priority and run_at."""
    queue: str = "default"


class QueueMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    @initialize()
    def open_fresh_database(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="queuectl-hypothesis-")
        db.open_database(f"{self.folder}/q.db", durable=False)  # semantics, not fsync
        stored_settings.set_value("backoff_base", BASE)
        stored_settings.set_value("backoff_max", CAP)
        self.now = T0
        self.model: dict[str, Expected] = {}
        self.claims: dict[str, claiming.Claim] = {}  # job id -> the live claim
        self.worker_seq = 0
        self.paused: set[str] = set()
        self.limits: dict[str, int] = {}

    def teardown(self) -> None:
        db.close_database()
        shutil.rmtree(getattr(self, "folder", ""), ignore_errors=True)

    # --- rules ---------------------------------------------------------------------------

    @rule(
        target=jobs,
        max_retries=st.integers(0, 3),
        delay=st.sampled_from([0, 0, 5, 50]),
        queue=st.sampled_from(QUEUES),
    )
    def enqueue(self, max_retries: int, delay: int, queue: str) -> str:
        spec = JobSpec(command="true", max_retries=max_retries, delay=delay, queue=queue)
        job_id = enqueuing.enqueue(spec, now=self.now, cwd="/").id
        self.model[job_id] = Expected(
            JobState.PENDING, 0, max_retries, self.now + delay, seq=len(self.model), queue=queue
        )
        return job_id

    @rule(seconds=st.sampled_from([1, 10, 40, 200]))
    def time_passes(self, seconds: int) -> None:
        """Time passes; workers still running a job keep heartbeating meanwhile."""
        self.now += seconds
        alive = [claim.job.worker_id for claim in self.claims.values()]
        Worker.update(heartbeat_at=self.now).where(Worker.id.in_(alive)).execute()

    @rule(queues=st.sampled_from(SERVED))
    def claim(self, queues: tuple[str, ...]) -> None:
        self.worker_seq += 1
        worker_id = f"w{self.worker_seq}"
        Worker.create(
            id=worker_id,
            pid=1,
            host="h",
            started_at=self.now,
            heartbeat_at=self.now,
            state=WorkerState.BUSY.value,
        )
        next_due = claiming.next_due_at(queues)
        claim = claiming.claim(worker_id, queues, host="h", now=self.now)
        # "Claimable now" is one rule: next due <= now exactly when the claim takes a job
        # (a paused queue and a full limit refuse due jobs: next-due applies both too,
        # or an idle worker would be told a job is due that it can never claim).
        if next_due is not None and next_due <= self.now:
            assert claim is not None, f"due at {next_due}, yet the claim took nothing"
        else:
            assert claim is None, f"claimed {claim.job.id} though next due is {next_due}"
        due = [(job_id, exp) for job_id, exp in self._waiting(queues) if exp.run_at <= self.now]
        if claim is None:
            assert not due, f"a due job was not claimed: {due}"
            return
        job_id = claim.job.id
        # Equal priorities: the earliest run_at, then the first enqueued.
        best = min(due, key=lambda item: (item[1].run_at, item[1].seq))
        assert job_id == best[0], f"claimed {job_id}, expected {best[0]}"
        expected = self.model[job_id]
        expected.state = JobState.PROCESSING
        expected.attempts += 1
        self.claims[job_id] = claim

    @precondition(lambda self: self.claims)
    @rule(
        data=st.data(),
        outcome=st.sampled_from(
            [RunOutcome.SUCCEEDED, RunOutcome.FAILED, RunOutcome.TIMED_OUT, RunOutcome.INTERRUPTED]
        ),
    )
    def finish(self, data: st.DataObject, outcome: RunOutcome) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.claims)))
        claim = self.claims.pop(job_id)
        state = end_attempt(claim, outcome, now=self.now, worker_id=claim.job.worker_id)
        expected = self.model.get(job_id)
        if expected is None or expected.state != JobState.PROCESSING:
            assert state is None, "a worker that lost its job changed it"
            return
        self._apply_end(expected, outcome)
        assert state == expected.state

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def worker_dies(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.claims)))
        claim = self.claims.pop(job_id)
        Worker.update(heartbeat_at=self.now - LEASE - 1).where(
            Worker.id == claim.job.worker_id
        ).execute()
        recovered = recovery.recover_lost(lease_seconds=LEASE, now=self.now)
        expected = self.model.get(job_id)
        if expected is not None and expected.state == JobState.PROCESSING:
            assert job_id in recovered
            self._apply_end(expected, RunOutcome.LOST)

    @rule(job_id=jobs)
    def retry(self, job_id: str) -> None:
        expected = self.model.get(job_id)
        try:
            manage.retry([job_id], now=self.now)
        except (InvalidTransition, JobNotFound) as exc:
            assert (
                expected is None
                or expected.state
                not in (
                    JobState.FAILED,
                    JobState.DEAD,
                    JobState.CANCELLED,
                )
                or (job_id in self.claims and isinstance(exc, InvalidTransition))
            ), exc
            return
        assert expected is not None
        expected.state, expected.attempts, expected.run_at = JobState.PENDING, 0, self.now

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        expected = self.model.get(job_id)
        try:
            manage.cancel(job_id, now=self.now)
        except (InvalidTransition, JobNotFound):
            assert expected is None or expected.state in (
                JobState.COMPLETED,
                JobState.DEAD,
                JobState.CANCELLED,
            )
            return
        assert expected is not None
        expected.state = JobState.CANCELLED

    @rule(job_id=consumes(jobs))
    def delete(self, job_id: str) -> None:
        expected = self.model.get(job_id)
        try:
            manage.delete(job_id)
        except (InvalidTransition, JobNotFound):
            # Refused while running, or while its worker still holds a cancelled attempt.
            assert (
                expected is None or expected.state == JobState.PROCESSING or job_id in self.claims
            )
            return
        del self.model[job_id]
        self.claims.pop(job_id, None)

    def _waiting(self, queues: tuple[str, ...]) -> list[tuple[str, Expected]]:
        """The model's jobs a worker serving ``queues`` may claim once they are due: not
        in a paused queue, nor in one whose running jobs have reached its limit."""

        def open_(queue: str) -> bool:
            running = sum(
                1
                for e in self.model.values()
                if e.queue == queue and e.state == JobState.PROCESSING
            )
            return queue not in self.paused and running < self.limits.get(queue, running + 1)

        return [
            (job_id, exp)
            for job_id, exp in self.model.items()
            if exp.state in (JobState.PENDING, JobState.FAILED)
            and exp.queue in queues
            and open_(exp.queue)
        ]

    @rule(queue=st.sampled_from(QUEUES), pause=st.booleans())
    def pause_or_resume(self, queue: str, pause: bool) -> None:
        """Steering a queue changes what is claimable: the claim and next-due must agree."""
        (steering.pause if pause else steering.resume)([queue], now=self.now)
        (self.paused.add if pause else self.paused.discard)(queue)

    @rule(queue=st.sampled_from(QUEUES), limit=st.sampled_from([None, 1, 2]))
    def limit(self, queue: str, limit: int | None) -> None:
        steering.set_limit(queue, limit, now=self.now)
        if limit is None:
            self.limits.pop(queue, None)
        else:
            self.limits[queue] = limit

    def _apply_end(self, expected: Expected, outcome: RunOutcome) -> None:
        if outcome is RunOutcome.SUCCEEDED:
            expected.state = JobState.COMPLETED
        elif outcome is RunOutcome.INTERRUPTED:
            expected.state, expected.attempts, expected.run_at = (
                JobState.PENDING,
                expected.attempts - 1,
                self.now,
            )
        elif expected.attempts > expected.max_retries:
            expected.state = JobState.DEAD
        else:
            expected.state = JobState.FAILED
            expected.run_at = self.now + min(BASE**expected.attempts, CAP)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def rows_match_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        rows = {job.id: job for job in Job.select()}
        assert set(rows) == set(self.model)
        for job_id, expected in self.model.items():
            job = rows[job_id]
            assert job.state == expected.state, (job_id, job.state, expected)
            assert job.attempts == expected.attempts
            if expected.state in (JobState.PENDING, JobState.FAILED):
                assert abs(job.run_at - expected.run_at) < 1e-6, "backoff schedule"

    @invariant()
    def next_due_is_the_earliest_claimable_job(self) -> None:
        if not hasattr(self, "model"):
            return
        for queues in SERVED:
            waiting = [exp.run_at for _, exp in self._waiting(queues)]
            expected = min(waiting) if waiting else None
            assert claiming.next_due_at(queues) == expected, (queues, expected)

    @invariant()
    def lifecycle_invariants_hold(self) -> None:
        if not hasattr(self, "model"):
            return
        for job in Job.select():
            assert 0 <= job.attempts <= job.max_retries + 1
            if job.state == JobState.DEAD:
                assert job.attempts == job.max_retries + 1, "a dead job spent its retries"
            open_runs = Run.select().where(Run.job == job.id, Run.outcome.is_null()).count()
            if job.state == JobState.PROCESSING:
                assert open_runs == 1
            # Never two attempts at once, and an attempt stays open only while a
            # live worker holds it: a dead worker's run is always closed.
            assert open_runs <= 1, (job.id, open_runs)
            assert open_runs == 0 or job.id in self.claims, (job.id, job.state, "open run")
        counts = reads.counts()
        assert sum(counts.values()) == len(self.model)
        for state in JobState:
            expected = sum(1 for e in self.model.values() if e.state == state)
            assert counts[state.value] == expected


QueueMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,  # the same examples every run: CI must not flake
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_queue_state_machine = QueueMachine.TestCase
