"""retry/cancel/delete by id or by filter, and --json on every command that changes something."""

from __future__ import annotations

import json

import pytest

from queuectl.cli import common
from queuectl.lifecycle import claim as claiming
from queuectl.store import db
from queuectl.store.models import Job, RunOutcome
from tests.conftest import dump
from tests.test_cli import enqueue, finish_next


def _states(location: str) -> dict[str, str]:
    db.open_database(location)
    states = {job.id: job.state for job in Job.select()}
    db.close_database()
    return states


@pytest.fixture
def mixed(run, db_url) -> dict[str, str]:
    """One job in each state that matters, in two queues: id -> state."""
    enqueue(run, id="done")
    finish_next(db_url)
    enqueue(run, id="dead", max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    enqueue(run, id="running")
    db.open_database(db_url)
    claiming.claim("w1", host="test")
    db.close_database()
    enqueue(run, id="waiting")
    enqueue(run, id="mail-1", queue="mail")
    enqueue(run, id="mail-2", queue="mail")
    return _states(db_url)


def test_several_ids_each_refusal_one_line_the_others_done(run, db_url, mixed):
    result = run("cancel", "waiting", "done", "nope", "mail-1", ok=False)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["waiting cancelled", "mail-1 cancelled"]
    assert result.stderr.splitlines() == [
        "Error: job done is completed; it can no longer be cancelled",
        "Error: no job with id 'nope'",
    ]
    states = _states(db_url)
    assert (states["waiting"], states["mail-1"], states["done"]) == (
        "cancelled",
        "cancelled",
        "completed",
    )


def test_retry_of_a_completed_job_runs_it_again(run, db_url):
    job_id = enqueue(run)
    finish_next(db_url, output="first\n")
    assert run("retry", job_id).stdout == f"{job_id} pending\n"
    assert finish_next(db_url, output="second\n") == job_id
    record = json.loads(run("show", job_id, "--json").stdout)
    assert record["state"] == "completed" and record["output"] == "second\n"
    assert [(r["run"], r["attempt"], r["output"]) for r in record["runs"]] == [
        (1, 1, "first\n"),
        (2, 1, "second\n"),
    ]


def test_filters_combine_with_and(run, db_url, mixed):
    result = run("cancel", "--queue", "mail", "--state", "pending", "--yes", "--json")
    assert sorted(job["id"] for job in json.loads(result.stdout)) == ["mail-1", "mail-2"]
    states = _states(db_url)
    assert states["waiting"] == "pending" and states["running"] == "processing"


def test_retry_all_takes_failed_dead_cancelled_but_not_completed(run, db_url, mixed):
    run("cancel", "waiting")
    result = run("retry", "--all", "--yes")
    assert result.stdout == "2 jobs pending\n"  # dead and the cancelled one
    states = _states(db_url)
    assert (states["dead"], states["waiting"], states["done"]) == (
        "pending",
        "pending",
        "completed",
    )
    assert run("retry", "--state", "completed", "--yes").stdout == "1 job pending\n"


def test_a_retry_that_leaves_some_jobs_blocked_counts_each_state(run):
    """``2 jobs pending``, where one of them waited for its dependency (blocked)."""
    run("add", "--id", "b1", "--", "make", "build")
    run("add", "--id", "t1", "--after", "b1", "--", "make", "test")
    run("cancel", "b1")  # t1 taken down (dead)
    result = run("retry", "--state", "cancelled", "--state", "dead", "--yes")
    assert result.stdout == "2 jobs retried: 1 pending, 1 blocked\n"


def test_delete_all_never_deletes_running_jobs_and_says_so(run, db_url, mixed):
    result = run("delete", "--all", "--yes", "--json")
    deleted = {job["id"] for job in json.loads(result.stdout)}
    assert deleted == set(mixed) - {"running"}
    assert "1 matching job left as it is: running, or still being stopped by its worker" in (
        result.stderr
    )  # it said "1 matching job left as they are"
    assert _states(db_url) == {"running": "processing"}


def test_delete_all_asks_about_the_jobs_it_deletes_not_every_state(run, mixed):
    """It asked "Delete 5 pending/blocked/processing/completed/failed/dead/cancelled jobs",
    naming every state, running ones included, which it never deletes."""
    result = run("delete", "--all", ok=False)
    assert result.exit_code == 2
    asked = f"Error: Delete {len(mixed) - 1} jobs: add --yes to confirm (no terminal to ask on)"
    assert result.stderr.splitlines()[-1] == asked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("delete", "--state", "processing"), "running jobs are never deleted"),
        (
            ("cancel", "--state", "completed"),
            "only pending, blocked, failed or processing jobs can be",
        ),
        (("retry", "--state", "pending"), "only failed, dead, cancelled or completed jobs"),
        (("cancel", "waiting", "--all"), "give job ids, or --state/--queue/--all, not both"),
        (("delete",), "give job ids, or select jobs with --state S, --queue Q or --all"),
        (
            ("cancel", "--all"),
            "Cancel 4 pending/blocked/failed/processing jobs: add --yes to confirm",
        ),
        (("delete", "--queue", "mail"), "Delete 2 "),
    ],
)
def test_bad_batch_requests_change_nothing(run, db_url, mixed, args, message):
    before = dump(db_url)
    result = run(*args, ok=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert dump(db_url) == before


def test_on_a_terminal_the_batch_asks_first(run, db_url, mixed, monkeypatch):
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    before = dump(db_url)
    result = run("delete", "--queue", "mail", input="n\n", ok=False)
    assert result.exit_code == 1 and "Delete 2 jobs in queue 'mail'? [y/N]" in result.stderr
    assert dump(db_url) == before
    result = run("delete", "--queue", "mail", input="y\n")
    assert result.stdout == "2 jobs deleted\n"
    assert "mail-1" not in _states(db_url)


def test_a_filter_that_matches_nothing_is_fine(run, mixed):
    result = run("retry", "--queue", "nowhere", "--json")
    assert json.loads(result.stdout) == []
    assert run("cancel", "--queue", "nowhere").stderr == "no jobs to cancel\n"


def test_every_mutating_command_prints_what_it_changed_as_json(run, db_url, mixed):
    cancelled = json.loads(run("cancel", "waiting", "--json").stdout)
    assert [(job["id"], job["state"]) for job in cancelled] == [("waiting", "cancelled")]
    retried = json.loads(run("retry", "waiting", "--json").stdout)
    assert [(job["id"], job["state"]) for job in retried] == [("waiting", "pending")]
    assert "output" not in retried[0] and "output_bytes" in retried[0]
    deleted = json.loads(run("delete", "waiting", "--json").stdout)
    assert [job["id"] for job in deleted] == ["waiting"]
    dlq = json.loads(run("dlq", "retry", "dead", "--json").stdout)
    assert [(job["id"], job["state"]) for job in dlq] == [("dead", "pending")]
    setting = json.loads(run("config", "set", "max-retries", "5", "--json").stdout)
    assert setting == {"key": "max_retries", "value": 5, "default": 3}
    reset = json.loads(run("config", "reset", "max_retries", "--json").stdout)
    assert reset == [{"key": "max_retries", "value": 3, "default": 3}]
    added = json.loads(run("add", "--json", "--", "echo", "hi").stdout)
    assert added["command"] == "echo hi" and added["state"] == "pending"
    assert json.loads(run("worker", "prune", "--json").stdout) == []
    assert json.loads(run("worker", "stop", "--json").stdout) == []


def test_dlq_retry_refuses_each_id_not_in_the_dlq_and_retries_the_rest(run, db_url, mixed):
    result = run("dlq", "retry", "waiting", "dead", ok=False)
    assert result.exit_code == 1
    assert result.stdout == "dead pending\n"
    assert result.stderr == "Error: job waiting is pending; it is not in the DLQ\n"


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize(
    "args",
    [
        ("cancel", "--yes"),
        ("delete", "--state", "pending", "--yes"),
        ("retry", "--yes"),
        ("list",),
        ("dlq", "list"),
        ("stats",),
        ("wait", "--timeout", "0"),
    ],
)
def test_an_empty_queue_is_refused_not_read_as_every_queue(run, db_url, mixed, args, blank):
    """``cancel --queue "$Q" --yes`` with ``Q`` unset cancelled the jobs of every queue."""
    result = run(*args, "--queue", blank, ok=False)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "a queue name is needed" in line, line
    assert result.stdout == ""
    assert _states(db_url) == mixed


@pytest.mark.parametrize(
    "args",
    [("cancel", "--yes"), ("list",), ("dlq", "list"), ("stats",), ("wait", "--timeout", "0")],
)
def test_a_queue_name_no_queue_can_have_is_a_usage_error(run, db_url, mixed, args):
    """``stats --queue 'bad q'`` answered as for an empty queue (exit 0), where ``queue
    pause 'bad q'`` says the name cannot be a queue's (exit 2)."""
    result = run(*args, "--queue", "bad q", ok=False)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "a queue name must be 1-64 characters" in line and "(got 'bad q')" in line, line
    assert result.stdout == ""
    assert _states(db_url) == mixed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("metrics", "--serve", ""), "--serve must be HOST:PORT"),
        (("metrics", "--allow-remote"), "--allow-remote is for --serve"),
        (("config", "get", ""), "unknown config key ''"),
    ],
)
def test_an_empty_value_is_refused_not_read_as_none_given(run, args, message):
    """``metrics --serve ""`` printed the metrics once; ``config get ""`` listed them all."""
    result = run(*args, ok=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert message in result.stderr


def test_states_come_as_a_comma_list_as_in_the_dashboards_filter(run, db_url, mixed):
    """``list --state failed,dead`` was refused while ``-s failed -s dead`` worked."""

    def listed(*args: str) -> list[str]:
        return sorted(job["id"] for job in json.loads(run("list", *args, "--json").stdout))

    assert listed("--state", "completed,DEAD") == ["dead", "done"]
    assert listed("completed,dead") == listed("-s", "completed", "-s", "dead")
    assert listed("processing", "-s", "processing,completed") == ["done", "running"]
    # As the dashboard's Queues pane heads its columns: "running" was refused.
    assert listed("--state", "Running,done") == ["done", "running"]
    assert "'running' is not one of" in run("purge", "--state", "running", ok=False).stderr
    for wrong, said in [
        ("failed,", "a state is missing in 'failed,'"),
        ("bogus,dead", "'bogus' is not one of"),
    ]:
        refused = run("list", "--state", wrong, ok=False)
        assert (refused.exit_code, refused.stdout, refused.stderr.count("\n")) == (2, "", 1)
        assert said in refused.stderr
    cancelled = run("cancel", "--state", "pending,processing", "--queue", "mail", "--yes", "--json")
    assert sorted(job["id"] for job in json.loads(cancelled.stdout)) == ["mail-1", "mail-2"]
    refused = run("purge", "--state", "dead,pending", ok=False)
    assert refused.exit_code == 2 and "'pending' is not one of" in refused.stderr
    assert _states(db_url) == {**mixed, "mail-1": "cancelled", "mail-2": "cancelled"}
    run("purge", "--state", "dead,cancelled")
    assert sorted(_states(db_url)) == ["done", "running", "waiting"]


def test_jobs_a_filter_picked_that_changed_meanwhile_are_left_not_errors(
    run, db_url, mixed, monkeypatch
):
    """``cancel --queue rq`` while workers drained rq printed an ``Error:`` line for each
    job that ended between the pick and the cancel, and exited 1, having done all it
    was asked."""
    from queuectl.lifecycle import manage

    picked = manage.select

    def picked_then_changed(action, **filters):
        selection = picked(action, **filters)
        # As workers and another shell would, between the pick and the cancel:
        Job.update(state="completed").where(Job.id == "waiting").execute()
        Job.delete().where(Job.id == "mail-1").execute()
        return selection

    monkeypatch.setattr(manage, "select", picked_then_changed)
    result = run("cancel", "--state", "pending", "--yes")
    assert (result.exit_code, result.stdout) == (0, "1 job cancelled\n")
    assert result.stderr == (
        "2 matching jobs changed meanwhile, left as they are: 1 completed, 1 not found\n"
    )
    assert _states(db_url)["mail-2"] == "cancelled"


def test_a_filter_over_several_chunks_cancels_dependents_it_picked(run, db_url, monkeypatch):
    """Past one chunk, cancelling a job took down (dead, to the DLQ) its dependents that a
    later chunk was to cancel, each then refused "is dead", exit 1."""
    from queuectl.lifecycle import manage

    monkeypatch.setattr(manage, "CHUNK", 2)
    for n in range(3):
        enqueue(run, id=f"p{n}", queue="cq", run_at="2099-01-01T00:00:00Z")
    for n in range(3):
        enqueue(run, id=f"b{n}", queue="cq", after=[f"p{n}"])
    result = run("cancel", "--queue", "cq", "--yes")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "6 jobs cancelled\n", "")
    assert set(_states(db_url).values()) == {"cancelled"}


def test_ctrl_c_at_the_question_exits_130_not_as_a_no(run, db_url, mixed, monkeypatch):
    """click answers Ctrl+C at its prompt as a "no" (exit 1): a wrapper could not tell an
    interrupt from an answer."""
    import click

    def interrupted(*_args, **_kwargs) -> bool:
        try:  # as click.confirm answers Ctrl+C (CliRunner replaces its input function)
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None

    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    answered_no = run("cancel", "--state", "pending", input="n\n", ok=False)
    assert answered_no.exit_code == 1 and answered_no.stderr.endswith("Aborted.\n")
    monkeypatch.setattr(click, "confirm", interrupted)
    result = run("cancel", "--state", "pending", ok=False)
    assert (result.exit_code, result.stdout) == (130, "")
    assert "Aborted." not in result.stderr
    assert _states(db_url) == mixed


def test_a_comma_list_of_states_completes_after_its_last_comma():
    """Completion offered nothing once a comma was typed (``list --state failed,d``)."""
    import click

    from queuectl.states import FINISHED_STATES

    def offered(typed: str, states: common.StateListType | None = None) -> list[str]:
        ctx = click.Context(click.Command("list"))
        found = (states or common.StateListType()).shell_complete(ctx, None, typed)
        return [item.value for item in found]

    assert offered("failed,d") == ["failed,dead"]
    assert offered("fai") == ["failed"]
    assert offered("dead,c", common.StateListType(FINISHED_STATES)) == [
        "dead,completed",
        "dead,cancelled",
    ]
    assert "dead" not in offered("dead,")  # given already


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_a_file_with_no_jobs_enqueues_nothing_and_says_so_with_exit_0(run, text):
    """It exited 2, a usage error, so a cron pipeline whose generator found no work today
    failed as if called wrongly (a script author's try)."""
    plain = run("enqueue", "-", input=text)
    assert (plain.stdout, plain.stderr) == ("", "nothing enqueued: the file holds no jobs\n")
    as_json = run("enqueue", "--file", "-", "--json", input=text)
    assert json.loads(as_json.stdout) == []
    assert json.loads(run("list", "--json").stdout) == []
