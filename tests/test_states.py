"""The one table of state colours covers every state a screen can show."""

from __future__ import annotations

from queuectl.states import STATE_STYLES, JobState, RunOutcome, WorkerState


def test_every_job_state_run_outcome_and_worker_state_has_a_style() -> None:
    names = {member.value for enum in (JobState, RunOutcome, WorkerState) for member in enum}
    assert names <= STATE_STYLES.keys(), names - STATE_STYLES.keys()
    assert all(STATE_STYLES.values())


def test_the_cli_and_the_dashboard_colour_a_state_alike() -> None:
    from queuectl.cli.render import styled_state
    from tui.cells import state_text

    for state in (*JobState, *WorkerState):
        assert styled_state(state).style == state_text(state).style, state
