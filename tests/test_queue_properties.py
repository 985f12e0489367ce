"""A Hypothesis state machine over the queue's transitions, checked against a model.

Random sequences of enqueue / claim / finish (success, failure, timeout,
interrupt) / retry / cancel / delete / recover-lost / pause, resume and limit a
queue / time passing, with the
invariants of README's lifecycle checked after every step.

Jobs may depend on earlier ones (``after``) and carry a unique key: the model
follows blocking, unblocking, the cascade to dead and the revival on retry, and
the invariants add that a blocked job never runs, a dependent never starts
before all its dependencies completed, and at most one active job holds a key.
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
    multiple,
    precondition,
    rule,
)

from queuectl.errors import InvalidTransition, JobNotFound, KeyTaken
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import manage, reads, recovery
from queuectl.lifecycle import queues as steering
from queuectl.lifecycle import settings as stored_settings
from queuectl.states import ACTIVE_STATES
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run, RunOutcome, Worker, WorkerState
from tests.conftest import T0, end_attempt

LEASE = 30.0
BASE = 2.0
CAP = 100.0
QUEUES = ("default", "mail")
SERVED = [("default",), ("mail",), ("default", "mail")]
"""The queue sets a worker may serve: the claim and the next-due query filter by them."""
KEYS = (None, None, "k1", "k2")
ENDED_BADLY = (JobState.DEAD, JobState.CANCELLED)


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
    after: tuple[str, ...] = ()
    key: str | None = None
    taken_down_by: str | None = None
    """The dependency whose end sent this job to dead without running."""


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
        self.seq = 0

    def teardown(self) -> None:
        db.close_database()
        shutil.rmtree(getattr(self, "folder", ""), ignore_errors=True)

    # --- rules ---------------------------------------------------------------------------

    @rule(
        target=jobs,
        max_retries=st.integers(0, 3),
        delay=st.sampled_from([0, 0, 5, 50]),
        queue=st.sampled_from(QUEUES),
        key=st.sampled_from(KEYS),
        data=st.data(),
    )
    def enqueue(self, max_retries: int, delay: int, queue: str, key: str | None, data):  # type: ignore[no-untyped-def]
        # The latest jobs: chains form (and complete) within a run's few steps.
        known = sorted(self.model, key=lambda job_id: self.model[job_id].seq)[-3:]
        after = ()
        if known:
            after = tuple(data.draw(st.lists(st.sampled_from(known), max_size=2, unique=True)))
        spec = JobSpec(
            command="true",
            id=f"j{self.seq + 1}",  # not random: the draws below must replay alike
            max_retries=max_retries,
            delay=delay,
            queue=queue,
            after=after,
            unique_key=key,
        )
        holder = self._holder(key) if key is not None else None
        badly = [d for d in spec.after if self.model[d].state in ENDED_BADLY]
        try:
            job_id = enqueuing.enqueue(spec, now=self.now, cwd="/").id
        except KeyTaken as exc:
            assert holder is not None and f"held by job {holder} " in str(exc), exc
            return multiple()
        except InvalidTransition as exc:
            assert holder is None and badly, exc
            return multiple()
        assert holder is None and not badly
        unfinished = any(self.model[d].state != JobState.COMPLETED for d in spec.after)
        self.seq += 1
        self.model[job_id] = Expected(
            JobState.BLOCKED if unfinished else JobState.PENDING,
            0,
            max_retries,
            self.now + delay,
            seq=self.seq,
            queue=queue,
            after=spec.after,
            key=key,
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
        assert all(
            self.model[d].state == JobState.COMPLETED
            for d in self.model[job_id].after
            if d in self.model
        ), f"{job_id} started before its dependencies completed"
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

    @rule(count=st.integers(1, 4))
    def run_next_jobs(self, count: int) -> None:
        """A worker serving every queue takes the next ``count`` jobs one by one (sleeping
        until each is due) and each succeeds: what moves chains of dependencies along."""
        for _ in range(count):
            due = claiming.next_due_at(QUEUES)
            if due is None:
                return
            if due > self.now:  # the worker sleeps until then; busy workers heartbeat
                self.now = due
                alive = [claim.job.worker_id for claim in self.claims.values()]
                Worker.update(heartbeat_at=self.now).where(Worker.id.in_(alive)).execute()
            before = set(self.claims)
            self.claim(QUEUES)
            for job_id in set(self.claims) - before:
                claim = self.claims.pop(job_id)
                outcome = RunOutcome.SUCCEEDED
                state = end_attempt(claim, outcome, now=self.now, worker_id=claim.job.worker_id)
                self._apply_end(self.model[job_id], outcome)
                assert state == JobState.COMPLETED

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
        holder = self._holder(expected.key, besides=job_id) if expected and expected.key else None
        badly = [
            d
            for d in (expected.after if expected else ())
            if d in self.model and self.model[d].state in ENDED_BADLY
        ]
        try:
            manage.retry([job_id], now=self.now)
        except KeyTaken as exc:
            assert holder is not None and f"held by job {holder} " in str(exc), exc
            return
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
                or (badly and "waits for dependency" in str(exc))
            ), exc
            return
        assert expected is not None and holder is None and not badly
        unfinished = any(
            self.model[d].state != JobState.COMPLETED for d in expected.after if d in self.model
        )
        expected.state = JobState.BLOCKED if unfinished else JobState.PENDING
        expected.attempts, expected.run_at, expected.taken_down_by = 0, self.now, None
        for other in self.model.values():  # dependents that could start wait again
            if job_id in other.after and other.state in (JobState.PENDING, JobState.FAILED):
                other.state = JobState.BLOCKED
        self._revive(job_id)

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
        self._cascade(job_id)

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
        was = self.model.pop(job_id).state
        self.claims.pop(job_id, None)
        if was != JobState.COMPLETED:
            self._cascade(job_id)

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

    def _holder(self, key: str, besides: str | None = None) -> str | None:
        """The model's active job holding ``key`` (other than ``besides``)."""
        for job_id, exp in self.model.items():
            if exp.key == key and exp.state in ACTIVE_STATES and job_id != besides:
                return job_id
        return None

    def _dependents(self, job_id: str) -> list[tuple[str, Expected]]:
        found = [(i, e) for i, e in self.model.items() if job_id in e.after]
        return sorted(found, key=lambda item: item[1].seq)

    def _cascade(self, job_id: str) -> None:
        """``job_id`` ended dead or cancelled, or was deleted: blocked dependents die."""
        for dependent, exp in self._dependents(job_id):
            if exp.state == JobState.BLOCKED:
                exp.state, exp.taken_down_by = JobState.DEAD, job_id
                self._cascade(dependent)

    def _unblock(self, job_id: str) -> None:
        for _, exp in self._dependents(job_id):
            if exp.state == JobState.BLOCKED and all(
                self.model[d].state == JobState.COMPLETED for d in exp.after if d in self.model
            ):
                exp.state = JobState.PENDING

    def _revive(self, job_id: str) -> None:
        """``deps.revive_locked``, level by level in enqueue order, as the model sees it."""
        frontier, keys_back = [job_id], {}
        skipped = {job_id}
        while frontier:
            candidates = sorted(
                (
                    (i, e)
                    for i, e in self.model.items()
                    if e.state == JobState.DEAD and e.taken_down_by in frontier and i not in skipped
                ),
                key=lambda item: item[1].seq,
            )
            states = {i: e.state for i, e in self.model.items()}
            back = []
            for dependent, exp in candidates:
                still = next((d for d in exp.after if states.get(d) in ENDED_BADLY), None)
                held = exp.key is not None and (
                    exp.key in keys_back or self._holder(exp.key, besides=dependent)
                )
                if still is not None:
                    exp.taken_down_by = still
                elif held:
                    exp.taken_down_by = None
                else:
                    if exp.key is not None:
                        keys_back[exp.key] = dependent
                    back.append((dependent, exp))
            for dependent, exp in back:
                exp.state, exp.attempts, exp.taken_down_by = JobState.BLOCKED, 0, None
                skipped.add(dependent)
            frontier = [dependent for dependent, _ in back]

    def _apply_end(self, expected: Expected, outcome: RunOutcome) -> None:
        job_id = next(i for i, e in self.model.items() if e is expected)
        self._apply_state(expected, outcome)
        if expected.state == JobState.COMPLETED:
            self._unblock(job_id)
        elif expected.state == JobState.DEAD:
            self._cascade(job_id)

    def _apply_state(self, expected: Expected, outcome: RunOutcome) -> None:
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
    def blocked_jobs_wait_for_something_and_runnable_ones_for_nothing(self) -> None:
        if not hasattr(self, "model"):
            return
        rows = {job.id: job.state for job in Job.select(Job.id, Job.state)}
        for job_id, exp in self.model.items():
            present = [rows[d] for d in exp.after if d in rows]
            if exp.state == JobState.BLOCKED:
                assert any(state != JobState.COMPLETED for state in present), job_id
                assert not any(state in ENDED_BADLY for state in present), job_id
            elif exp.state in (JobState.PENDING, JobState.FAILED):
                assert all(state == JobState.COMPLETED for state in present), job_id

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
                taken_down = (job.last_error or "").startswith("dependency ") or (
                    "(not revived)" in (job.last_error or "")
                )
                assert taken_down or job.attempts == job.max_retries + 1, (
                    "a dead job spent its retries, or a dependency took it down"
                )
            open_runs = Run.select().where(Run.job == job.id, Run.outcome.is_null()).count()
            if job.state == JobState.PROCESSING:
                assert open_runs == 1
            # Never two attempts at once, and an attempt stays open only while a
            # live worker holds it: a dead worker's run is always closed.
            assert open_runs <= 1, (job.id, open_runs)
            assert open_runs == 0 or job.id in self.claims, (job.id, job.state, "open run")
        counts = reads.counts()
        assert sum(counts.values()) == len(self.model)
        # A unique key: at most one active holder.
        holders = [e.key for e in self.model.values() if e.key and e.state in ACTIVE_STATES]
        assert len(holders) == len(set(holders)), holders
        for state in JobState:
            expected = sum(1 for e in self.model.values() if e.state == state)
            assert counts[state.value] == expected


QueueMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # the same examples every run: CI must not flake
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_queue_state_machine = QueueMachine.TestCase
