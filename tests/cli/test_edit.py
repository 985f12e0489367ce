"""edit, clone, hold and release: change a job that has not started, or copy one."""

from __future__ import annotations

import json

from queuectl.cli import common
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import schedules
from queuectl.store import db
from queuectl.store.models import RunOutcome
from tests.conftest import dump
from tests.test_cli import enqueue, finish_next


def _job(run, job_id: str) -> dict:
    return json.loads(run("show", job_id, "--json").stdout)


def test_edit_merges_keys_and_bad_values_change_nothing(run):
    job_id = enqueue(run, priority=1, env={"A": "1"})
    result = run("edit", job_id, '{"priority": 9, "queue": "mail", "env": {"B": "2"}}')
    assert result.stdout.strip() == f"{job_id} edited (pending)"
    job = _job(run, job_id)
    assert (job["priority"], job["queue"], job["env"], job["command"]) == (
        9,
        "mail",
        {"B": "2"},
        "true",
    )
    for changes, message in (
        ('{"priority": "high"}', '"priority" must be an integer'),
        ('{"id": "other"}', '"id" cannot be edited'),
        # The keys edit takes, not enqueue's: it listed id and after, which it refuses.
        (
            '{"colour": 1}',
            "unknown key 'colour'; allowed keys: command, priority, max_retries, timeout,"
            " run_at, delay, queue, cwd, env, on_success, on_failure, tty, unique_key",
        ),
        ("[1]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
    ):
        bad = run("edit", job_id, changes, ok=False)
        assert bad.exit_code == 2 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert _job(run, job_id)["priority"] == 9


def test_edit_refuses_a_running_job_and_retries_a_dead_one(run, db_url):
    running = enqueue(run)
    db.open_database(db_url)
    assert claiming.claim("w1", host="test").job.id == running
    db.close_database()
    refused = run("edit", running, '{"priority": 3}', ok=False)
    assert refused.exit_code == 1
    # Not "edit it once it ends": a run that completes cannot be edited.
    assert refused.stderr == (
        f"Error: job {running} is running: cancel it first (an edit then runs it again),"
        f" or clone it with the changes (queuectl clone {running} PARTIAL-JSON)\n"
    )
    dead = enqueue(run, max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    assert _job(run, dead)["state"] == "dead"
    assert (
        run("edit", dead, '{"command": "echo fixed"}').stdout.strip() == f"{dead} edited (pending)"
    )
    job = _job(run, dead)
    assert (job["command"], job["attempts"], job["last_error"]) == ("echo fixed", 0, None)
    assert job["started_at"] is None  # the failed run's start is the run's, not this job's


def test_edit_without_changes_needs_a_terminal_or_opens_the_editor(run, monkeypatch):
    job_id = enqueue(run)
    before = _job(run, job_id)
    bad = run("edit", job_id, ok=False)
    assert bad.exit_code == 2 and "no terminal to open an editor on" in bad.stderr
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr("queuectl.cli.edit.stdin_is_terminal", lambda: True)
    seen = {}

    def fake_edit(text, **kwargs):
        seen.update(kwargs, text=text)
        return text.replace('"priority": 0', '"priority": 7')

    monkeypatch.setattr("click.edit", fake_edit)
    monkeypatch.setenv("EDITOR", "nano")
    assert run("edit", job_id).stdout.strip() == f"{job_id} edited (pending)"
    assert seen["editor"] == "nano" and '"command": "true"' in seen["text"]
    job = _job(run, job_id)
    assert job["priority"] == 7
    # The time as --json shows it, not epoch seconds; left as shown, the job keeps it.
    assert f'"run_at": "{job["run_at"]}"' in seen["text"]
    assert job["run_at"] == before["run_at"]
    monkeypatch.setattr("click.edit", lambda text, **kwargs: None)  # quit without saving
    assert "left as it was" in run("edit", job_id).stderr


def test_an_editor_that_leaves_no_file_to_read_back_changes_nothing(run, monkeypatch):
    """An editor that deleted its file printed "Error: [Errno 2] No such file or
    directory: '/tmp/editor-….json'"."""
    job_id = enqueue(run)
    before = _job(run, job_id)
    monkeypatch.setattr("queuectl.cli.edit.stdin_is_terminal", lambda: True)
    monkeypatch.setenv("EDITOR", "sh -c 'rm -f \"$1\"' rm")
    result = run("edit", job_id, ok=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "Error: could not read back what sh -c 'rm -f \"$1\"' rm saved"
        " (no such file or directory): job left as it was\n"
    )
    assert _job(run, job_id) == before


def test_a_key_deleted_in_the_editor_goes_back_to_its_default(run, monkeypatch):
    """Deleting ``unique_key`` and ``env`` from the buffer was ignored while the command
    said "edited"; only reformatting the buffer now changes nothing and says so."""
    job_id = enqueue(run, env={"A": "1"}, unique_key="EK", timeout=30)
    monkeypatch.setattr("queuectl.cli.edit.stdin_is_terminal", lambda: True)

    def without(*keys):
        def edit(text, **kwargs):
            data = json.loads(text)
            for key in keys:
                del data[key]
            return json.dumps(data, indent=4)

        return edit

    monkeypatch.setattr("click.edit", without())
    assert "left as it was" in run("edit", job_id).stderr
    monkeypatch.setattr("click.edit", without("unique_key", "env", "timeout"))
    assert run("edit", job_id).stdout.strip() == f"{job_id} edited (pending)"
    job = _job(run, job_id)
    assert (job["unique_key"], job["env"], job["timeout"]) == (None, {}, None)


def test_run_at_or_delay_given_as_null_makes_the_job_due_now(run):
    """``{"run_at": null}`` said "edited" and kept the job two hours away."""
    job_id = run("add", "--delay", "2h", "--", "true").stdout.strip()
    for changes in ('{"run_at": null}', '{"delay": null}'):
        run("edit", job_id, '{"delay": "2h"}')
        later = _job(run, job_id)["run_at"]
        run("edit", job_id, changes)
        assert _job(run, job_id)["run_at"] < later
        assert "due in" not in run("show", job_id).stdout


def test_a_null_max_retries_is_the_settings_and_a_null_cwd_is_refused(run, db_url):
    """Both said "edited" and kept the job's own; '{}' said "edited" and changed nothing."""
    job_id = run("add", "--max-retries", "7", "--delay", "1h", "--", "true").stdout.strip()
    run("edit", job_id, '{"max_retries": null}')
    assert _job(run, job_id)["max_retries"] == 3  # the setting, as a new job gets
    before = dump(db_url)
    bad = run("edit", job_id, '{"cwd": null}', ok=False)
    assert bad.exit_code == 2 and '"cwd" cannot be null' in bad.stderr
    empty = run("edit", job_id, "{}")
    assert (empty.stdout, empty.stderr) == ("", f"job {job_id} left as it was\n")
    # A script reads the job either way: '{}' printed nothing where a no-op change printed it.
    as_json = json.loads(run("edit", job_id, "{}", "--json").stdout)
    shown = _job(run, job_id)
    assert as_json == {key: shown[key] for key in as_json}
    assert as_json["id"] == job_id and as_json["max_retries"] == 3
    assert dump(db_url) == before


def test_clone_prints_the_new_id_of_a_copy(run, db_url):
    job_id = enqueue(run, priority=4, env={"A": "1"})
    finish_next(db_url)
    copy = run("clone", job_id).stdout.strip()
    assert copy != job_id
    job = _job(run, copy)
    assert (job["state"], job["priority"], job["env"], job["attempts"]) == (
        "pending",
        4,
        {"A": "1"},
        0,
    )


def test_a_completed_job_runs_again_changed_as_a_copy_no_worker_can_take_first(run, db_url):
    """pueue's ``restart --edit``: "clone it and edit the clone" could not work, as an
    idle worker ran the clone's old command before the edit reached it, and the edit's
    refusal gave the same advice again. The changes are the copy's from its insert."""
    done = enqueue(run, command="echo v1", priority=4)
    finish_next(db_url)
    refused = run("edit", done, '{"command": "echo v2"}', ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.endswith(
        f"(to run it again with changes: queuectl clone {done} PARTIAL-JSON)\n"
    )
    copy = run("clone", done, '{"command": "echo v2", "id": "v2"}').stdout.strip()
    assert copy == "v2"
    job = _job(run, copy)
    assert (job["command"], job["priority"], job["held_at"]) == ("echo v2", 4, None)
    db.open_database(db_url)
    claimed = claiming.claim("w1", host="test")
    db.close_database()
    assert (claimed.job.id, claimed.job.command) == ("v2", "echo v2")  # never "echo v1"
    before = dump(db_url)
    for changes, message in (
        ('{"after": []}', '"after" cannot be changed: a copy waits for the jobs the job'),
        ('{"colour": 1}', "allowed keys: command, priority, max_retries, timeout, run_at"),
        ('{"held": "yes"}', '"held" must be true or false (got a string)'),
        ('{"id": "v2"}', "v2"),  # taken
        ("[1]", "must be a JSON object"),
    ):
        bad = run("clone", done, changes, ok=False)
        assert bad.exit_code in (1, 2) and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert dump(db_url) == before


def test_a_job_added_or_cloned_held_waits_for_its_release(run, db_url):
    """pueue's ``add --stashed``: a hold after the add lost the race to an idle worker
    ("job q-held is completed"); ``--hold`` stores it held, as ``"held": true`` does."""
    added = json.loads(run("add", "--hold", "--json", "--", "echo", "hi").stdout)
    assert added["held_at"] is not None
    enqueued = run("enqueue", '{"command": "true", "held": true, "id": "e1"}').stdout.strip()
    copy = run("clone", enqueued, "--hold").stdout.strip()
    db.open_database(db_url)
    assert claiming.claim("w1", host="test") is None  # all three held
    db.close_database()
    assert run("release", copy).stdout.strip() == f"{copy} released"
    db.open_database(db_url)
    assert claiming.claim("w1", host="test").job.id == copy
    db.close_database()
    both = run("clone", "e1", '{"held": false}', "--hold", ok=False)
    assert both.exit_code == 2 and '--hold and "held": false disagree' in both.stderr
    refused = run("edit", "e1", '{"held": false}', ok=False)
    assert refused.exit_code == 2
    assert '"held" is not edited: queuectl hold ID or queuectl release ID' in refused.stderr


def test_a_held_job_is_never_claimed_until_released(run, db_url):
    held = enqueue(run, priority=10)
    other = enqueue(run)
    assert run("hold", held).stdout.strip() == f"{held} held"
    # Held already is no error, as ``queue pause`` of a paused queue is not: a script
    # could not tell it from "completed, cannot be held" (a script author's try).
    again = run("hold", held, "--json")
    assert (again.exit_code, json.loads(again.stdout)) == (0, [])
    assert again.stderr == f"job {held} was held already\n"
    db.open_database(db_url)
    assert claiming.claim("w1", host="test").job.id == other
    assert claiming.claim("w1", host="test") is None
    db.close_database()
    assert _job(run, held)["held_at"] is not None
    assert "held since" in run("show", held).stdout
    [row] = [line for line in run("list").stdout.splitlines() if line.startswith(held)]
    assert row.split()[5] == "held"  # WHEN says so, as the dashboard does (piped: before COMMAND)
    assert run("release", held).stdout.strip() == f"{held} released"
    assert run("release", held).stderr == f"job {held} was not held\n"
    db.open_database(db_url)
    assert claiming.claim("w1", host="test").job.id == held
    db.close_database()
    refused = run("hold", held, "ghost", ok=False)
    assert "only a waiting (pending, blocked or failed) job can be held" in refused.stderr
    assert "no job with id 'ghost'" in refused.stderr


def test_a_hold_ends_with_its_job(run):
    """A held job that was cancelled still showed "held since … (until released)" and
    ``held_at`` in its JSON, yet ``release`` refused it; so did a held blocked job taken
    down by its dependency. The hold is on a waiting job and ends with it."""
    run("add", "--id", "hc", "--", "true")
    run("add", "--id", "dep", "--delay", "1h", "--", "true")
    run("add", "--id", "after-dep", "--after", "dep", "--", "true")
    run("hold", "hc", "after-dep")
    run("cancel", "hc", "dep")
    for job_id, state in (("hc", "cancelled"), ("after-dep", "dead")):
        job = _job(run, job_id)
        assert (job["state"], job["held_at"]) == (state, None)
        assert "held" not in run("show", job_id).stdout
    retried = json.loads(run("retry", "hc", "--json").stdout)
    assert [(job["state"], job["held_at"]) for job in retried] == [("pending", None)]


def test_a_retry_keeps_a_hold_and_says_so(run, db_url):
    """A failed job held while someone looked into it lost its hold to ``retry``,
    silently, and ran: the hold ends with the job, and a retry does not end it."""
    from queuectl.store.models import Job

    run("add", "--id", "hf", "--max-retries", "3", "--", "exit 1")
    db.open_database(db_url)
    Job.update(state="failed", attempts=1).where(Job.id == "hf").execute()
    db.close_database()
    run("hold", "hf")
    assert run("retry", "hf").stdout == "hf pending, held (queuectl release to run it)\n"
    job = _job(run, "hf")
    assert job["state"] == "pending" and job["held_at"] is not None and job["attempts"] == 0


def test_edit_and_clone_keep_a_jobs_own_hooks(run):
    """A job's on_success/on_failure (schema 5) survive an edit of other keys and a clone,
    and an edit may change them."""
    job_id = enqueue(run, on_success="echo ok", on_failure="")
    run("edit", job_id, '{"priority": 2}')
    job = _job(run, job_id)
    assert (job["priority"], job["on_success"], job["on_failure"]) == (2, "echo ok", "")
    run("edit", job_id, '{"on_success": "echo done"}')
    assert _job(run, job_id)["on_success"] == "echo done"
    copy = _job(run, run("clone", job_id).stdout.strip())
    assert (copy["on_success"], copy["on_failure"]) == ("echo done", "")


def test_a_held_blocked_job_says_both_in_list(run):
    run("add", "--id", "dep", "--delay", "1h", "--", "true")
    run("add", "--id", "after-dep", "--after", "dep", "--", "true")
    run("hold", "after-dep")
    [row] = [line for line in run("list").stdout.splitlines() if line.startswith("after-dep")]
    assert " default held, after dep " in row  # WHEN, before COMMAND when piped


def test_edit_checks_a_new_cwd_as_enqueue_does(run, tmp_path, db_url):
    """README: edit "validates the whole as enqueue would"; a cwd that is not a directory
    here was stored, and the job then failed to start (and ``clone`` refused it)."""
    job_id = enqueue(run)
    before = _job(run, job_id)
    missing = str(tmp_path / "nowhere")
    result = run("edit", job_id, json.dumps({"cwd": missing}), ok=False)
    if db_url.startswith("postgres"):
        # Workers may run on other hosts: reported, as enqueue reports it, and stored.
        assert result.exit_code == 0
        assert f"cwd {missing!r} is not a directory on this host" in result.stderr
        return
    assert result.exit_code == 2
    assert result.stderr == f'Error: "cwd" {missing!r} is not a directory on this host\n'
    assert _job(run, job_id) == before
    run("edit", job_id, json.dumps({"cwd": str(tmp_path)}))
    assert _job(run, job_id)["cwd"] == str(tmp_path)


def test_a_schedules_fire_can_be_edited_and_cloned_and_keeps_its_fire(run, db_url):
    """A fire's job stores the schedule's two variables in its ``env``; edit and clone
    merged them back into what a user may set, and refused every change with
    ``"env" may not set QUEUECTL_CRON_NAME``: e (fix and retry) never worked on a fire."""
    run("cron", "add", "nightly", "@every 5s", '{"command": "false", "env": {"A": "1"}}')
    db.open_database(db_url)
    due = schedules.get("nightly").next_fire_at
    [fired] = schedules.fire_due(due).enqueued
    db.close_database()
    stored = _job(run, fired)["env"]
    assert stored["QUEUECTL_CRON_NAME"] == "nightly" and stored["A"] == "1"
    run("edit", fired, '{"command": "true", "env": {"A": "2"}}')
    edited = _job(run, fired)
    assert edited["command"] == "true"
    assert edited["env"] == {**stored, "A": "2"}
    copy = _job(run, run("clone", fired).stdout.strip())
    assert (copy["command"], copy["env"]) == ("true", edited["env"])
    refused = run("edit", fired, '{"env": {"QUEUECTL_CRON_TS": "x"}}', ok=False)
    assert refused.exit_code == 2 and "may not set QUEUECTL_CRON_TS" in refused.stderr
    assert _job(run, fired)["env"] == edited["env"]


def test_show_names_a_jobs_own_hooks_and_tty(run):
    """They were only in ``show --json``: nothing in the plain view said a job had hooks."""
    job_id = enqueue(run, on_success="echo ok", on_failure="", tty=True)
    lines = {line.split("  ")[0]: line for line in run("show", job_id).stdout.splitlines()}
    assert lines["on success"].split() == ["on", "success", "echo", "ok"]
    assert "none (the setting's is off for this job)" in lines["on failure"]
    assert "runs under a pseudo-terminal" in lines["tty"]
    plain = enqueue(run)
    shown = run("show", plain).stdout
    assert "on success" not in shown and "on failure" not in shown and "tty" not in shown
