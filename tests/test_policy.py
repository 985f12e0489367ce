"""What an attempt's end does to its job: ``policy.decide`` on its own, no database."""

from __future__ import annotations

import pytest

from queuectl.lifecycle.policy import Decision, backoff_delay, decide
from queuectl.states import JobState, RunOutcome

SETTINGS = {"backoff_base": 2.0, "backoff_max": 100.0}
NOW = 1_000.0


def _decide(outcome: RunOutcome, *, attempts: int = 1, max_retries: int = 3, **kw) -> Decision:
    return decide(
        outcome,
        exit_code=kw.pop("exit_code", None),
        attempts=attempts,
        max_retries=max_retries,
        settings=SETTINGS,
        now=NOW,
        **kw,
    )


def test_success_completes_and_keeps_the_worker_as_who_ran_it():
    assert _decide(RunOutcome.SUCCEEDED, exit_code=0) == Decision(
        JobState.COMPLETED, run_at=None, finished=True, given_back=0, keeps_worker=True
    )


@pytest.mark.parametrize("outcome", [RunOutcome.FAILED, RunOutcome.TIMED_OUT, RunOutcome.LOST])
def test_a_failure_with_retries_left_is_due_again_after_the_backoff(outcome):
    decision = _decide(outcome, attempts=3, max_retries=3, exit_code=1)
    assert decision == Decision(JobState.FAILED, run_at=NOW + 8.0)  # 2 ** 3


@pytest.mark.parametrize("outcome", [RunOutcome.FAILED, RunOutcome.TIMED_OUT, RunOutcome.LOST])
def test_a_failure_with_no_retries_left_goes_to_the_dlq(outcome):
    assert _decide(outcome, attempts=4, max_retries=3) == Decision(JobState.DEAD, finished=True)


def test_a_final_failure_goes_to_the_dlq_whatever_retries_are_left():
    decision = _decide(RunOutcome.FAILED, attempts=1, max_retries=10, final=True)
    assert decision.state is JobState.DEAD and decision.finished


def test_an_interrupted_attempt_is_given_back_and_due_at_once_for_any_worker():
    assert _decide(RunOutcome.INTERRUPTED) == Decision(
        JobState.PENDING, run_at=NOW, finished=False, given_back=1, keeps_worker=False
    )


def test_a_cancel_seen_while_running_cancels():
    assert _decide(RunOutcome.CANCELLED) == Decision(JobState.CANCELLED, finished=True)


def test_the_backoff_is_capped_and_never_overflows():
    assert _decide(RunOutcome.FAILED, attempts=50, max_retries=99).run_at == NOW + 100.0
    assert backoff_delay(10_000, 2, 60) == 60
    assert backoff_delay(3, 2, 3600) == 8


def test_every_outcome_has_a_decision():
    for outcome in RunOutcome:
        assert isinstance(_decide(outcome), Decision)


def test_a_start_the_system_had_no_resources_for_is_given_back_after_its_pause():
    assert _decide(RunOutcome.INTERRUPTED, due_in=0.5, attempts=4, max_retries=3) == Decision(
        JobState.PENDING, run_at=NOW + 0.5, finished=False, given_back=1, keeps_worker=False
    )
