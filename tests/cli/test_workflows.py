"""The CLI of workflows: every refusal is one line with its exit code and stores nothing;
``--if-absent`` prints the holder; ``show``/``list`` say what a blocked job waits for."""

from __future__ import annotations

import json

import pytest

from queuectl.store.models import RunOutcome
from tests.conftest import dump
from tests.test_cli import finish_next


def one_error(result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert text in result.stderr, result.stderr


@pytest.fixture
def chain(run):
    run("add", "--id", "build", "--", "make")
    run("add", "--id", "test", "--after", "build", "--", "make test")
    return run


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("add", "--after", "nope", "--", "x"), 1, "no job with id 'nope' to run after"),
        (("add", "--id", "me", "--after", "me", "--", "x"), 2, '"after" names the job itself'),
        (("add", "--after", "bad id", "--", "x"), 2, '"after" ids must be 1-64 characters'),
        (("add", "--unique-key", "", "--", "x"), 2, '"unique_key" must be a string of 1-200'),
        (("add", "--unique-key", "  ", "--", "x"), 2, '"unique_key" must be printable text'),
        (("enqueue", '{"command": "x", "unique_key": "a\\nb"}'), 2, "must be printable text"),
        # In JSON's words, not Python's ("not dict", "(got None)", "(got ['a'])").
        (("enqueue", '{"command": "x", "after": {"a": 1}}'), 2, "a list of ids, not an object"),
        (("enqueue", '{"command": "x", "after": [null]}'), 2, "not starting with - (got null)"),
        (
            ("enqueue", '{"command": "x", "after": [["a"]]}'),
            2,
            "not starting with - (got an array)",
        ),
        (("enqueue", '{"command": "x", "after": "test"}'), 0, ""),
    ],
)
def test_bad_dependencies_are_one_line_and_store_nothing(chain, db_url, args, code, text):
    before = dump(db_url)
    result = chain(*args, ok=False)
    if code == 0:
        assert result.exit_code == 0 and result.stdout.strip()
        return
    one_error(result, code, text)
    assert dump(db_url) == before


def test_a_held_key_is_refused_naming_the_holder_and_if_absent_prints_it(run, db_url):
    holder = run("add", "--unique-key", "nightly", "--", "backup").stdout.strip()
    before = dump(db_url)
    one_error(
        run("add", "--unique-key", "nightly", "--", "backup", ok=False),
        1,
        f"unique key 'nightly' is held by job {holder} (pending)",
    )
    assert run("add", "--unique-key", "nightly", "--if-absent", "--", "x").stdout == f"{holder}\n"
    spec = '{"command": "backup", "unique_key": "nightly"}'
    assert run("enqueue", "--if-absent", spec).stdout == f"{holder}\n"
    assert dump(db_url) == before


def test_a_file_fails_whole_on_a_held_key_or_goes_on_with_if_absent(run, db_url, tmp_path):
    holder = run("add", "--unique-key", "k", "--", "x").stdout.strip()
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"command": "a"}\n{"command": "b", "unique_key": "k"}\n{"command": "c"}\n')
    before = dump(db_url)
    one_error(run("enqueue", "--file", str(jobs), ok=False), 1, "line 2: unique key 'k' is held")
    assert dump(db_url) == before
    lines = run("enqueue", "--if-absent", "--file", str(jobs)).stdout.split()
    assert len(lines) == 3 and lines[1] == holder and holder not in (lines[0], lines[2])


def test_with_if_absent_a_line_after_a_skipped_line_runs_after_its_holder(run, tmp_path):
    """Line 1 printed the holder's id in its place, but line 2's ``after`` of line 1's id
    failed the file with "no job with id 'a6'", and without a line number."""
    holder = run("add", "--id", "hk", "--unique-key", "k7", "--", "true").stdout.strip()
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"id": "a6", "command": "true", "unique_key": "k7"}\n'
        '{"id": "b6", "command": "true", "after": ["a6", "hk"]}\n'
    )
    assert run("enqueue", "--if-absent", "--file", str(jobs)).stdout.split() == [holder, "b6"]
    shown = json.loads(run("show", "b6", "--json").stdout)
    assert (shown["state"], shown["after"]) == ("blocked", ["hk"])
    jobs.write_text(
        '{"id": "a7", "command": "true", "unique_key": "k7"}\n'
        '{"id": "b7", "command": "true", "after": "nope"}\n'
    )
    one_error(
        run("enqueue", "--if-absent", "--file", str(jobs), ok=False),
        1,
        "line 2: no job with id 'nope' to run after",  # its line in the file, not among kept
    )


def test_a_dependency_on_a_later_line_is_refused_saying_where_it_is(run, tmp_path):
    """It said only "no job with id 'c2' to run after", with c2 two lines below."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"id": "c1", "command": "true", "after": "c2"}\n\n{"id": "c2", "command": "true"}\n'
    )
    one_error(
        run("enqueue", "--file", str(jobs), ok=False),
        1,
        "line 1: no job with id 'c2' to run after yet (it is on line 3: put a job after the"
        " jobs it runs after)",
    )
    assert run("list", "--json").stdout == "[]\n"


def test_a_key_two_lines_share_names_the_earlier_line_not_an_id_never_stored(run, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"id": "a4", "command": "true", "unique_key": "k4"}\n'
        '{"id": "b4", "command": "true", "unique_key": "k4"}\n'
    )
    one_error(
        run("enqueue", "--file", str(jobs), ok=False),
        1,
        "line 2: unique key 'k4' is held by job on line 1 (in this file)",
    )
    assert run("show", "a4", ok=False).exit_code == 1  # all or nothing: a4 was never stored


def test_clone_leaves_out_gone_dependencies_and_says_to_retry_a_dead_one(run, db_url):
    """``clone`` of a job whose dependency was purged failed ("no job with id 'P1' to run
    after"), and of one whose dependency was cancelled said "or leave it out", which
    clone cannot do."""
    run("add", "--id", "p1", "--", "true")
    run("add", "--id", "p2", "--", "true")
    run("add", "--id", "c1", "--after", "p1", "--after", "p2", "--", "true")
    run("delete", "p1", "--yes")
    copy = run("clone", "c1").stdout.strip()
    assert json.loads(run("show", copy, "--json").stdout)["after"] == ["p2"]
    run("cancel", "p2")
    before = dump(db_url)
    one_error(
        run("clone", "c1", ok=False),
        1,
        "job c1 runs after p2, which is cancelled: a copy could never run; retry p2 first",
    )
    assert dump(db_url) == before


def test_clone_and_edit_json_say_what_the_job_waits_for_as_add_json_does(run):
    """``clone --json`` of a job with dependencies gave a ``blocked`` job with nothing to
    say on what, where ``add --json`` and ``show --json`` give ``after``."""
    run("add", "--id", "a1", "--", "true")
    added = json.loads(run("add", "--id", "a2", "--after", "a1", "--json", "--", "true").stdout)
    cloned = json.loads(run("clone", "a2", "--json").stdout)
    edited = json.loads(run("edit", "a2", '{"priority": 3}', "--json").stdout)
    left = json.loads(run("edit", "a2", "{}", "--json").stdout)
    for record in (added, cloned, edited, left):
        assert (record["state"], record["after"]) == ("blocked", ["a1"]), record
        # One shape: clone's and edit's lacked output and output_truncated (a script's jq
        # path for them failed where enqueue's held null).
        assert record.keys() == added.keys(), record.keys() ^ added.keys()
    plain = json.loads(run("clone", "a1", "--json").stdout)
    assert plain["after"] == [] and (plain["output"], plain["output_truncated"]) == (None, None)


def test_a_retry_says_which_dependents_it_could_not_bring_back_and_why(run):
    """``retry base`` printed "base pending" and nothing else while kdep stayed dead, its
    unique key taken meanwhile; only kdep's last_error said why."""

    def taken_down_with_its_key_taken(n: int) -> None:
        run("add", "--id", f"base{n}", "--", "true")
        run("add", "--id", f"kdep{n}", "--after", f"base{n}", "--unique-key", f"K{n}", "--", "x")
        run("add", "--id", f"other{n}", "--after", f"base{n}", "--", "echo other")
        run("cancel", f"base{n}")
        run("add", "--id", f"thief{n}", "--unique-key", f"K{n}", "--", "echo thief")

    taken_down_with_its_key_taken(1)
    result = run("retry", "base1")
    assert result.stdout == "base1 pending\n"
    assert result.stderr.splitlines() == [
        "1 dependent back to blocked: other1",
        "1 dependent left dead: kdep1 (unique key 'K1' is held by job thief1 (pending))",
    ]
    assert json.loads(run("show", "kdep1", "--json").stdout)["state"] == "dead"
    taken_down_with_its_key_taken(2)
    as_json = run("retry", "base2", "--json")  # its jobs are those changed; the note stays
    assert [job["id"] for job in json.loads(as_json.stdout)] == ["base2", "other2"]
    assert "1 dependent left dead: kdep2 (unique key 'K2'" in as_json.stderr
    taken_down_with_its_key_taken(3)
    edited = run("edit", "base3", '{"priority": 1}')  # an edit retries a cancelled job
    assert "1 dependent left dead: kdep3 (unique key 'K3'" in edited.stderr


def test_a_diamond_retried_from_its_head_leaves_nothing_dead_and_says_nothing_false(run):
    """deploy waits for build and test; test waits for build. Retrying build brought both
    back, yet said "1 dependent left dead: deploy (dependency test is dead)": deploy was
    looked at before test, its sibling, came back in the same retry."""
    run("add", "--id", "build", "--", "true")
    run("add", "--id", "test", "--after", "build", "--", "true")
    run("add", "--id", "deploy", "--after", "build", "--after", "test", "--", "true")
    run("cancel", "build")
    result = run("retry", "build")
    assert result.stderr == "2 dependents back to blocked: test, deploy\n"
    states = [json.loads(run("show", j, "--json").stdout)["state"] for j in ("test", "deploy")]
    assert states == ["blocked", "blocked"]


def test_retrying_one_side_of_a_diamond_names_the_join_left_dead_for_the_other(run):
    """build -> test, build -> lint, test + lint -> deploy; build cancelled, then deleted.
    deploy was taken down through one side only; retrying the other side said nothing
    of deploy, which stayed dead."""
    run("add", "--id", "build", "--", "true")
    run("add", "--id", "test", "--after", "build", "--", "true")
    run("add", "--id", "lint", "--after", "build", "--", "true")
    run("add", "--id", "deploy", "--after", "test", "--after", "lint", "--", "true")
    run("cancel", "build")
    run("delete", "build")
    through = json.loads(run("show", "deploy", "--json").stdout)["taken_down_by"]
    other = {"test": "lint", "lint": "test"}[through]
    result = run("retry", other)
    assert result.stdout == f"{other} pending\n"
    assert result.stderr == f"1 dependent left dead: deploy (dependency {through} is dead)\n"
    assert json.loads(run("show", "deploy", "--json").stdout)["state"] == "dead"
    result = run("retry", through)
    assert result.stderr == "1 dependent back to blocked: deploy\n"


def test_dlq_retry_all_says_which_jobs_stay_dead_waiting_for_a_dead_dependency(run):
    run("add", "--id", "z", "--", "true")
    run("add", "--id", "w", "--after", "z", "--", "true")
    run("cancel", "z")  # w is taken down, and z is not in the DLQ (cancelled)
    result = run("dlq", "retry", "--all", "--yes", ok=False)
    assert result.exit_code == 1  # as with --json, and retry --state dead
    assert result.stdout == "0 jobs retried\n"
    assert result.stderr == (
        "Error: 1 left dead, waiting for a dependency still cancelled or dead (retry that"
        " first): w\n"
    )
    assert run("dlq", "retry", "--all", "--yes", "--json", ok=False).exit_code == 1
    # One whose key another job took meanwhile was left out of the count, unnamed.
    run("add", "--id", "p1", "--delay", "1h", "--", "true")
    run("add", "--id", "q1", "--after", "p1", "--unique-key", "uk1", "--", "true")
    run("cancel", "p1")
    run("add", "--id", "r1", "--unique-key", "uk1", "--delay", "1h", "--", "true")
    run("retry", "p1")
    again = run("dlq", "retry", "--all", "--yes", ok=False)
    assert again.exit_code == 1
    assert "1 left dead, their unique key held by another active job: q1" in again.stderr


def test_if_absent_json_says_which_jobs_this_call_created(run, tmp_path):
    """The id alone cannot tell a new job from the holder; the record's ``created`` can."""
    first = json.loads(run("add", "--unique-key", "k", "--if-absent", "--json", "--", "x").stdout)
    again = json.loads(run("add", "--unique-key", "k", "--if-absent", "--json", "--", "y").stdout)
    assert (first["created"], again["created"]) == (True, False)
    assert again["id"] == first["id"] and again["command"] == "x"
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"command": "a", "unique_key": "k"}\n{"command": "b", "unique_key": "n"}\n'
        '{"command": "c", "unique_key": "n"}\n'
    )
    records = json.loads(run("enqueue", "--if-absent", "--json", "--file", str(jobs)).stdout)
    assert [(r["command"], r["created"]) for r in records] == [
        ("x", False),
        ("b", True),
        ("b", False),  # the line before it took the key
    ]
    plain = json.loads(run("add", "--json", "--", "z").stdout)
    assert "created" not in plain  # the job record's shape is unchanged without --if-absent


def test_retry_of_a_dependent_is_refused_while_its_dependency_is_dead(chain, db_url):
    chain("cancel", "build")
    dead = json.loads(chain("show", "test", "--json").stdout)
    assert (dead["state"], dead["last_error"]) == ("dead", "dependency build is cancelled")
    one_error(
        chain("retry", "test", ok=False),
        1,
        "job test waits for dependency build, which is cancelled; retry build first",
    )
    result = chain("retry", "build")
    assert result.stdout == "build pending\n"
    assert "1 dependent back to blocked: test" in result.stderr
    assert json.loads(chain("show", "test", "--json").stdout)["state"] == "blocked"


def test_an_edit_that_retries_a_dependency_names_the_dependents_it_brought_back(chain):
    """An edit of a dead or cancelled job retries it, as ``retry`` does; it said nothing of
    the dependents that came back to blocked with it."""
    chain("cancel", "build")
    result = chain("edit", "build", '{"priority": 1}')
    assert result.stdout == "build edited (pending)\n"
    assert result.stderr == "1 dependent back to blocked: test\n"
    assert json.loads(chain("show", "test", "--json").stdout)["state"] == "blocked"
    # Under --json too: its stdout is the job alone, which says nothing of them.
    chain("cancel", "build")
    as_json = chain("edit", "build", '{"priority": 2}', "--json")
    assert json.loads(as_json.stdout)["id"] == "build"
    assert as_json.stderr == "1 dependent back to blocked: test\n"


def test_retry_json_prints_the_dependents_it_brought_back(chain):
    """``--json`` prints exactly what changed: a retry's dependents back to blocked were
    left out (cancel and delete list those they take down)."""
    chain("cancel", "build")
    result = chain("retry", "build", "--json")
    assert [(job["id"], job["state"]) for job in json.loads(result.stdout)] == [
        ("build", "pending"),
        ("test", "blocked"),
    ]
    assert result.stderr == ""


def test_retry_edit_and_clone_name_the_key_holder(run, db_url):
    old = run("add", "--unique-key", "k", "--max-retries", "0", "--", "false").stdout.strip()
    finish_next(db_url, RunOutcome.FAILED)
    new = run("add", "--unique-key", "k", "--", "true").stdout.strip()
    line = f"unique key 'k' is held by job {new} (pending)"
    one_error(run("retry", old, ok=False), 1, line)
    one_error(run("dlq", "retry", old, ok=False), 1, line)
    one_error(run("edit", old, '{"priority": 1}', ok=False), 1, line)
    one_error(run("clone", old, ok=False), 1, line)


def test_show_and_list_say_what_a_blocked_job_waits_for(chain):
    shown = json.loads(chain("show", "build", "--json").stdout)
    assert (shown["after"], shown["dependents"]) == ([], ["test"])
    shown = json.loads(chain("show", "test", "--json").stdout)
    assert (shown["state"], shown["after"], shown["dependents"]) == ("blocked", ["build"], [])
    text = chain("show", "test").stdout
    assert any(line.split() == ["after", "build", "(pending)"] for line in text.splitlines())
    assert "blocked" in chain("list").stdout and "after build" in chain("list").stdout
    assert json.loads(chain("status", "--json").stdout)["jobs"]["blocked"] == 1


@pytest.mark.parametrize("verb", ["cancel", "delete"])
def test_cancel_and_delete_print_the_dependents_they_took_down(chain, verb):
    """README: cancel and delete print exactly what they changed; the dependents sent to
    dead were left out."""
    chain("add", "--id", "ship", "--after", "test", "--", "make ship")
    result = chain(verb, "build", "--yes", "--json")
    assert [(job["id"], job["state"]) for job in json.loads(result.stdout)] == [
        ("build", "cancelled" if verb == "cancel" else "pending"),
        ("test", "dead"),
        ("ship", "dead"),
    ]
    assert result.stderr == ""
    chain("add", "--id", "again", "--", "make")
    chain("add", "--id", "after-again", "--after", "again", "--", "make test")
    text = chain(verb, "again", "--yes")
    assert text.stderr == "1 dependent taken down (dead): after-again\n"


JOB_TRUE = '{"command": "true"}'


def test_if_absent_without_a_key_is_a_usage_error(run):
    """It was accepted and did nothing: a script that forgot the key queued a new job
    each time, told nothing."""
    for args in (("add", "--if-absent", "--", "true"), ("enqueue", "--if-absent", JOB_TRUE)):
        result = run(*args, ok=False)
        assert result.exit_code == 2 and "--if-absent needs" in result.stderr
    assert run("list", "--json").stdout.strip() == "[]"


def test_dlq_retry_all_counts_where_the_jobs_went_as_retry_does(run, db_url):
    """It said "2 jobs back to pending or blocked" where ``retry --state dead`` says which:
    two wordings of one operation for a script to parse."""
    run("add", "--id", "root", "--max-retries", "0", "--", "false")
    run("add", "--id", "leaf", "--after", "root", "--", "true")
    finish_next(db_url, RunOutcome.FAILED)  # root dead, leaf taken down with it
    result = run("dlq", "retry", "--all", "--yes")
    assert result.stdout == "2 jobs retried: 1 pending, 1 blocked\n"


def test_enqueue_json_names_the_jobs_each_waits_for(run, tmp_path):
    """The record had no ``after``: a script building a pipeline could not confirm a job's
    dependencies from what it printed, only from ``show --json`` (a script author's try)."""
    first = json.loads(run("add", "--id", "fetch", "--delay", "1h", "--json", "--", "true").stdout)
    assert first["after"] == []
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"command": "true", "id": "load", "after": "fetch"}\n'
        '{"command": "true", "id": "report", "after": ["fetch", "load"]}\n'
    )
    records = json.loads(run("enqueue", "--json", "--file", str(jobs)).stdout)
    assert [(r["id"], r["state"], r["after"]) for r in records] == [
        ("load", "blocked", ["fetch"]),
        ("report", "blocked", ["fetch", "load"]),
    ]
    shown = json.loads(run("show", "report", "--json").stdout)
    assert shown["after"] == records[1]["after"]
