"""The scripting CLI through click's CliRunner: every command, its --json, its errors."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner

from queuectl.cli import cli
from queuectl.lifecycle import claim as claiming
from queuectl.store import db
from queuectl.store.models import RunOutcome
from tests.conftest import PG_ENV, dump, end_attempt, postgres_schema_url


@pytest.fixture
def run(db_url):
    """Invoke the CLI on the test database (each backend); returns the click Result."""
    return _invoker()


@pytest.fixture
def run_sqlite(db_path):
    """Invoke the CLI on an SQLite file, for tests about the file itself."""
    return _invoker()


def _invoker():
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        db.close_database()  # each call opens the database again, like a new process
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def enqueue(run, **spec) -> str:
    return run("enqueue", json.dumps({"command": "true", **spec})).stdout.strip()


def finish_next(location: str, outcome: RunOutcome = RunOutcome.SUCCEEDED, output: str = "") -> str:
    """Play a worker: claim the next job and record an outcome."""
    db.open_database(location)
    claim = claiming.claim("w1", host="test")
    assert claim is not None
    code = 0 if outcome is RunOutcome.SUCCEEDED else 1
    end_attempt(claim, outcome, exit_code=code, output=output, worker_id="w1")
    db.close_database()
    return claim.job.id


# --- happy paths ------------------------------------------------------------------------


def test_version_and_help(run):
    assert "queuectl, version" in run("--version").stdout
    assert "enqueue" in run("--help").stdout


def test_enqueue_prints_the_id_and_show_describes_the_job(run):
    job_id = enqueue(run, id="build-1", priority=5)
    assert job_id == "build-1"
    shown = run("show", "build-1").stdout
    assert "build-1" in shown and "pending" in shown and "5" in shown


def test_enqueue_json_returns_the_job_record(run):
    record = json.loads(run("enqueue", '{"command": "echo hi", "delay": "2m"}', "--json").stdout)
    assert record["state"] == "pending" and record["command"] == "echo hi"
    assert record["run_at"].endswith("Z") and record["created_at"].endswith("Z")


def test_enqueue_file_and_stdin(run, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"command": "a"}\n\n{"command": "b", "id": "bee"}\n')
    ids = run("enqueue", "--file", str(jobs)).stdout.split()
    assert len(ids) == 2 and ids[1] == "bee"
    ids = run("enqueue", "-", input='{"command": "c"}\n{"command": "d"}\n').stdout.split()
    assert len(ids) == 2
    assert len(json.loads(run("list", "--json").stdout)) == 4


def test_a_file_that_starts_with_a_byte_order_mark_is_read_without_it(run, tmp_path):
    """As Windows' Notepad saves UTF-8; json.loads refused it "(decode using utf-8-sig)"."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes('\ufeff{"command": "a", "id": "first"}\n{"command": "b"}\n'.encode())
    assert len(run("enqueue", "--file", str(jobs)).stdout.split()) == 2
    assert json.loads(run("show", "first", "--json").stdout)["command"] == "a"
    inside = tmp_path / "inside.jsonl"  # only a file's first character can be its mark
    inside.write_bytes('{"command": "a"}\n\ufeff{"command": "b"}\n'.encode())
    refused = run("enqueue", "--file", str(inside), ok=False)
    assert (refused.exit_code, refused.stderr.count("\n")) == (2, 1)
    assert refused.stderr.startswith("Error: line 2: invalid JSON")


def test_list_filters_by_state_in_any_spelling(run, db_url):
    enqueue(run, id="a")
    enqueue(run, id="b", max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)  # priority ties: the oldest, "a", goes first
    dead = {job["id"] for job in json.loads(run("list", "--state", "DEAD", "--json").stdout)}
    assert dead == set() or dead == {"a"}
    pending = json.loads(run("list", "pending", "--json").stdout)
    assert [job["id"] for job in pending] == ["b"]
    assert "b" in run("list", "--state", "Pending").stdout


def test_list_limit_and_queue(run):
    for n in range(3):
        enqueue(run, queue="q1" if n else "q2")
    assert len(json.loads(run("list", "--queue", "q1", "--json").stdout)) == 2
    assert len(json.loads(run("list", "-n", "1", "--json").stdout)) == 1


def test_show_json_has_runs_and_output(run, db_url):
    job_id = enqueue(run)
    finish_next(db_url, output="hello\n")
    record = json.loads(run("show", job_id, "--json").stdout)
    assert record["state"] == "completed" and record["output"] == "hello\n"
    assert record["runs"][0]["outcome"] == "succeeded"
    assert record["runs"][0]["attempt"] == 1
    assert "hello" in run("show", job_id).stdout


def test_status_counts_and_json_shape(run):
    enqueue(run)
    human = run("status").stdout
    assert "pending" in human and "no workers running" in human
    data = json.loads(run("status", "--json").stdout)
    assert data["jobs"]["pending"] == 1 and data["jobs"]["dead"] == 0
    assert data["workers"] == []


def test_retry_cancel_delete(run, db_url):
    job_id = enqueue(run, max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    assert run("retry", job_id).stdout.strip() == f"{job_id} pending"
    assert run("cancel", job_id).stdout.strip() == f"{job_id} cancelled"
    assert run("delete", job_id).stdout.strip() == f"{job_id} deleted"
    assert json.loads(run("list", "--json").stdout) == []


def test_purge_finished_jobs(run, db_url):
    enqueue(run)
    finish_next(db_url)
    enqueue(run)
    assert run("purge", "--state", "completed", "--older-than", "0s").stdout.strip() == (
        "purged 1 job"
    )
    assert json.loads(run("purge", "--json").stdout) == {"purged": 0}


def test_dlq_list_retry_and_purge(run, db_url):
    ids = [enqueue(run, max_retries=0) for _ in range(3)]
    for _ in ids:
        finish_next(db_url, RunOutcome.FAILED)
    dead = json.loads(run("dlq", "list", "--json").stdout)
    assert sorted(job["id"] for job in dead) == sorted(ids)
    assert "LAST ERROR" in run("dlq", "list").stdout
    assert run("dlq", "retry", ids[0]).stdout.strip() == f"{ids[0]} pending"
    assert run("dlq", "retry", "--all", "--yes").stdout == "2 jobs pending\n"
    for _ in ids:
        finish_next(db_url, RunOutcome.FAILED)
    assert "purged 3 dead jobs" in run("dlq", "purge", "--yes").stdout


def test_dlq_purge_asks_first(run, db_url, monkeypatch):
    from queuectl.cli import common

    enqueue(run, max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    # No terminal: the rule of cancel, delete and retry (a piped "y" is not a person).
    result = run("dlq", "purge", input="y\n", ok=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert (
        result.stderr == "Error: Delete 1 dead job: add --yes to confirm (no terminal to ask on)\n"
    )
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    result = run("dlq", "purge", input="n\n", ok=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert "Delete 1 dead job? [y/N]" in result.stderr
    assert len(json.loads(run("dlq", "list", "--json").stdout)) == 1


def test_dlq_retry_all_asks_first_as_retry_by_state_does(run, db_url, monkeypatch):
    """It retried every dead job unasked, and refused --yes; ``retry --state dead``, the
    same change, asks (each job runs again)."""
    from queuectl.cli import common

    job_id = enqueue(run, max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    result = run("dlq", "retry", "--all", ok=False)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: Retry 1 dead job: add --yes to confirm (no terminal to ask on)\n"
    )
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    result = run("dlq", "retry", "--all", input="n\n", ok=False)
    assert result.exit_code == 1 and "Retry 1 dead job? [y/N]" in result.stderr
    assert json.loads(run("show", job_id, "--json").stdout)["state"] == "dead"
    result = run("dlq", "retry", "--all", input="y\n")
    assert result.stdout == "1 job pending\n"


def test_dlq_purge_deletes_the_jobs_it_counted_not_one_that_died_while_it_asked(
    run, db_url, monkeypatch
):
    """ "Delete 1 dead job?" then yes deleted 2: a job died while the question waited."""
    import time

    from queuectl.cli import common
    from queuectl.store.models import Job

    enqueue(run, max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    late = enqueue(run, max_retries=0)

    def dies_while_asking(question: str, **_kwargs: object) -> bool:
        assert question == "Delete 1 dead job?"
        Job.update(state="dead", finished_at=time.time()).where(Job.id == late).execute()
        return True

    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(common.click, "confirm", dies_while_asking)
    assert run("dlq", "purge").stdout == "purged 1 dead job\n"
    assert [job["id"] for job in json.loads(run("dlq", "list", "--json").stdout)] == [late]


def test_config_list_get_set_reset_and_aliases(run):
    assert "max_retries" in run("config").stdout
    assert "lease_seconds" in run("config", "list").stdout
    assert "backoff_base" in run("config", "get").stdout
    assert run("config", "set", "max-retries", "5").stdout.strip() == "max_retries = 5"
    assert run("config", "get", "MAX_RETRIES").stdout.strip() == "5"
    assert run("config", "set", "job_timeout", "2m").stdout.strip() == "job_timeout = 120.0"
    assert json.loads(run("config", "--json").stdout)["max_retries"] == 5
    assert run("config", "reset", "max_retries").stdout.strip() == "max_retries = 3"
    assert len(run("config", "reset").stdout.splitlines()) == 10  # every setting
    # the new default applies to new jobs
    assert json.loads(run("enqueue", '{"command": "x"}', "--json").stdout)["max_retries"] == 3


def test_db_option_before_or_after_the_command(run_sqlite, tmp_path):
    other = str(tmp_path / "other.db")
    run_sqlite("--db", other, "enqueue", '{"command": "x", "id": "there"}')
    assert json.loads(run_sqlite("list", "--db", other, "--json").stdout)[0]["id"] == "there"
    assert json.loads(run_sqlite("list", "--json").stdout) == []  # $QUEUECTL_DB is untouched


def test_untrusted_text_is_printed_inert(run):
    command = "echo '[bold red]x\x1b[31m\x1b]52;c;aGk=\x07\x9b2J'"
    job_id = run("enqueue", json.dumps({"command": command})).stdout.strip()
    for args in (("list",), ("show", job_id)):
        out = run(*args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
        assert "[bold red]" in out and "␛[31m" in out
    raw = run("show", job_id, "--json").stdout
    assert "\x1b" not in raw and "\x9b" not in raw and "\\u009b" in raw
    assert json.loads(raw)["command"] == command  # escaped, not altered


def test_a_setting_is_printed_inert_and_given_exactly_in_json(run):
    """A hook command is text that whoever can write the database may have set."""
    hook = "echo \x1b]52;c;Q0ZH\x07 \u202egnp.exe"
    for out in (
        run("config", "set", "on_failure", hook).stdout,
        run("config", "get", "on_failure").stdout,
    ):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "␛]52;c;Q0ZH␇ \\u202egnp.exe" in out
    assert json.loads(run("config", "get", "on_failure", "--json").stdout) == hook


def test_database_is_created_private(run_sqlite, db_path):
    import stat

    enqueue(run_sqlite)
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(db_path)).st_mode) & 0o077 in (0, 0o055)


def test_status_warns_about_a_database_others_can_write(run_sqlite, db_path):

    enqueue(run_sqlite)
    os.chmod(db_path, 0o666)
    result = run_sqlite("status")
    assert "writable by other users" in result.stderr


# --- bad input: one line, the documented exit code, the store unchanged ------------------

BAD_ENQUEUE = [
    ("not json", 2, "invalid JSON"),
    ("[1, 2]", 2, "must be a JSON object, not an array"),
    ('"echo"', 2, "must be a JSON object"),
    ("{}", 2, 'missing "command"'),
    ('{"command": ""}', 2, "must not be empty"),
    ('{"command": "   "}', 2, "must not be empty"),
    ('{"command": 42}', 2, "must be a string"),
    ('{"command": "x", "bogus": 1}', 2, "allowed keys: command, id"),
    ('{"command": "x", "id": "has space"}', 2, "1-64 characters"),
    ('{"command": "x", "id": ""}', 2, "1-64 characters"),
    ('{"command": "x", "id": "' + "a" * 65 + '"}', 2, "1-64 characters"),
    # scripts pass ids as arguments: ``queuectl cancel $ids`` would read these as options
    ('{"command": "x", "id": "--all"}', 2, "not starting with -"),
    ('{"command": "x", "id": "-h"}', 2, "not starting with -"),
    ('{"command": "x", "queue": "--yes"}', 2, "not starting with -"),
    ('{"command": "x", "after": "-x"}', 2, "not starting with -"),
    ('{"command": "x", "id": "existing"}', 1, "already exists: choose another id, or delete"),
    ('{"command": "x", "priority": -1}', 2, '"priority" must be between'),
    ('{"command": "x", "priority": 1.5}', 2, '"priority" must be an integer'),
    ('{"command": "x", "priority": "high"}', 2, '"priority" must be an integer'),
    ('{"command": "x", "max_retries": -2}', 2, '"max_retries" must be between'),
    ('{"command": "x", "max_retries": true}', 2, '"max_retries" must be an integer (got true)'),
    ('{"command": "x", "priority": [1]}', 2, '"priority" must be an integer (got [1])'),
    ('{"command": "x", "run_at": "next tuesday"}', 2, "ISO 8601"),
    ('{"command": "x", "run_at": "2026-11-22", "delay": 5}', 2, "not both"),
    ('{"command": "x", "timeout": "5 parsecs"}', 2, "timeout must be"),
    ('{"command": "x", "timeout": -1}', 2, "non-negative"),
    ('{"command": "x", "delay": "soon"}', 2, "delay must be"),
    ('{"command": "x", "queue": "a b"}', 2, '"queue" must be'),
]


@pytest.mark.parametrize(("payload", "code", "message"), BAD_ENQUEUE)
def test_bad_enqueue_input(run, db_url, payload, code, message):
    enqueue(run, id="existing")
    before = dump(db_url)
    result = run("enqueue", payload, ok=False)
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert dump(db_url) == before


def test_bad_line_in_a_file_names_the_line_and_accepts_nothing(run, db_url, tmp_path):
    enqueue(run)
    before = dump(db_url)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"command": "ok"}\n{"command": "ok", "id": "x"}\n{"command": ""}\n')
    result = run("enqueue", "--file", str(jobs), ok=False)
    assert result.exit_code == 2 and "line 3:" in result.stderr
    jobs.write_text('{"command": "a", "id": "x"}\n{"command": "b", "id": "x"}\n')
    result = run("enqueue", "--file", str(jobs), ok=False)
    assert result.exit_code == 2 and "line 2" in result.stderr and "line 1" in result.stderr
    assert dump(db_url) == before


def test_an_enqueues_own_refusals_name_the_files_lines_blank_lines_counted(run, db_url, tmp_path):
    """A unique key's refusal counted the jobs, not the lines: with a blank line above, it
    named line 2 where line 3 held the key, as a parse error never did."""
    run("add", "--id", "holder", "--unique-key", "k4", "--", "true")
    jobs = tmp_path / "jobs.jsonl"
    cases = [
        ('{"command": "true"}\n\n{"command": "true", "unique_key": "k4"}\n', "line 3: unique key"),
        (
            '{"command": "a"}\n\n{"command": "b", "unique_key": "zz"}\n'
            '{"command": "c", "unique_key": "zz"}\n',
            "line 4: unique key 'zz' is held by job on line 3 (in this file)",
        ),
        ('\n{"command": "a"}\n\n{"command": "b", "after": ["nope"]}\n', "line 4: "),
        ('{"command": "a"}\n\n{"command": "b", "id": "holder"}\n', "(line 3)"),
    ]
    before = dump(db_url)
    for text, said in cases:
        jobs.write_text(text)
        result = run("enqueue", "--file", str(jobs), ok=False)
        assert said in result.stderr, (text, result.stderr)
    assert dump(db_url) == before
    # Refused on SQLite, told on PostgreSQL (the workers may be on hosts that have it).
    jobs.write_text('{"command": "a"}\n\n\n{"command": "b", "cwd": "/nonexistent/x"}\n')
    result = run("enqueue", "--file", str(jobs), ok=False)
    assert "line 4: " in result.stderr and "/nonexistent/x" in result.stderr


BAD_COMMANDS = [
    (("config", "set", "nope", "1"), 2, "unknown config key 'nope'; known keys: max_retries"),
    (("config", "get", "nope"), 2, "unknown config key"),
    (("config", "reset", "nope"), 2, "unknown config key"),
    (("config", "reset", ""), 2, "unknown config key ''"),  # not "every setting"
    # Repeated, a queue filter kept the last: cancel acted on another set than asked.
    (("cancel", "-q", "images", "-q", "default", "--yes"), 2, "one queue at a time (got"),
    (("wait", "--queue", "a", "--queue", "b"), 2, "run the command once for each"),
    (("list", "-q", "a", "-q", "b"), 2, "one queue at a time"),
    (("dlq", "list", "-q", "a", "-q", "b"), 2, "one queue at a time"),
    (("stats", "-q", "a", "-q", "b"), 2, "one queue at a time"),
    # A read that fails (EIO) was told as "cannot write the output".
    (("enqueue", "--file", "/proc/self/mem"), 2, "cannot read /proc/self/mem: Input/output error"),
    (("status", "--db", "/proc/self/mem"), 1, "cannot read the database /proc/"),
    # SQLite refused the pattern ("too complex", exit 1) where PostgreSQL answered.
    (("list", "--search", "%" * 30_000), 2, "a search is at most 4,096 characters (got 30,000)"),
    (("dlq", "list", "-S", "x" * 50_001), 2, "a search is at most 4,096 characters"),
    (("config", "set", "max_retries", "-1"), 2, "between 0 and 100"),
    (("config", "set", "max_retries", "lots"), 2, "must be an integer"),
    (("config", "set", "max_retries", "2.5"), 2, "must be an integer"),
    (("config", "set", "backoff_base", "nan"), 2, "must be a number (got 'nan')"),
    (("config", "set", "lease_seconds", "1s"), 2, "between 2 and 86400"),
    (("show", "nope"), 1, "no job with id 'nope'"),
    (("retry", "nope"), 1, "no job with id"),
    (("retry", "waiting"), 1, "only failed, dead, cancelled or completed jobs can be retried"),
    (("cancel", "done"), 1, "can no longer be cancelled"),
    (("delete", "nope"), 1, "no job with id"),
    (("dlq", "retry", "waiting"), 1, "not in the DLQ"),
    (("dlq", "retry"), 2, "give job ids, or --all"),
    (("dlq", "retry", "--all", "waiting"), 2, "give job ids or --all, not both"),
    (("list", "--state", "bogus"), 2, "'bogus' is not one of"),
    (("list", "--limit", "0"), 2, "--limit"),
    (("purge", "--state", "pending"), 2, "'pending' is not one of"),
    (("purge", "--older-than", "a while"), 2, "--older-than must be"),
    (("enqueue",), 2, "give one job as JSON"),
    (("frobnicate",), 2, "No such command"),
    # pueue's names say what does their work here; click offered "Did you mean 'purge'?"
    # for pause (purge deletes every completed job, unasked) and 'clone' for clean.
    (("pause", "waiting"), 2, "'queuectl queue pause QUEUE' pauses a queue, 'queuectl hold ID'"),
    (("clean",), 2, "No such command 'clean': 'queuectl purge' deletes finished jobs"),
    (("kill", "waiting"), 2, "'queuectl cancel ID' stops a job and its whole process group"),
    (("follow", "waiting"), 2, "'queuectl logs --follow ID'"),
    (("parallel", "2"), 2, "'queuectl queue limit QUEUE N'"),
    (("worker", "kill"), 2, "No such command 'kill'. (see"),  # only the top level's names
    (("show",), 2, "Missing argument"),
    (("logs",), 2, "Missing argument"),
    (("logs", "nope"), 1, "no job with id 'nope'"),
    (("logs", "waiting", "--bogus"), 2, "No such option '--bogus'"),
    (("status", "--bogus"), 2, "No such option"),
    (("list", "--limit", "abc"), 2, "'abc' is not a whole number"),
    (("list", "--limit", "1_0"), 2, "'1_0' is not a whole number"),  # click read 10
    (("list", "--limit", "0"), 2, "--limit' / '-n': must be at least 1 (got 0)"),
    (("list", "--limit", str(10**20)), 2, "must be at most 4,611,686,018,427,387,904"),
    (("dlq", "list", "--limit", str(2**63)), 2, "--limit"),
    (("enqueue", "--file", "/nonexistent/jobs"), 2, "No such file or directory"),
    (("dlq", "list", "--limit", "0"), 2, "--limit"),
    (("dlq", "purge", "--bogus"), 2, "No such option"),
    (("config", "set", "max_retries"), 2, "Missing argument 'VALUE'"),
    (("config", "get", "max_retries", "extra"), 2, "unexpected extra argument"),
    (("retry",), 2, "give job ids, or select jobs with --state S, --queue Q or --all"),
    (("cancel", "nope"), 1, "no job with id"),
    (("worker", "start", "--count", "0"), 2, "--count must be between 1 and 128 (got 0)"),
    (("worker", "start", "--count", "129"), 2, "--count must be between 1 and 128"),
    (("worker", "start", "--count", "abc"), 2, "'abc' is not a whole number"),
    (("worker", "start", "--count", "1_0"), 2, "'1_0' is not a whole number"),
    (("add", "--", "echo " + "é" * 65535), 2, "at most 131071 bytes, the longest argument"),
    (("add", "--priority", "٣", "--", "true"), 2, "'٣' is not a whole number"),
    (("add", "--run-at", "20261305", "--", "true"), 2, "(got '20261305')"),
    (("worker", "start", "--slots", "0"), 2, "--slots must be between 1 and 64 (got 0)"),
    (("worker", "run", "--slots", "65"), 2, "--slots must be between 1 and 64 (got 65)"),
    (("worker", "start", "--queue", ","), 2, "a queue name cannot be empty"),
    (("worker", "run", "--queue", ""), 2, "a queue name cannot be empty"),
    (("worker", "stop", "nope"), 1, "no running worker with id or pid 'nope'"),
    (("worker", "stop", "99999999"), 1, "no running worker"),
    (("worker", "stop", "--timeout", "-1"), 2, "--timeout"),
    (("worker", "list", "--bogus"), 2, "No such option"),
    (("worker", "frobnicate"), 2, "No such command"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_COMMANDS)
def test_bad_command_input(run, db_url, args, code, message):
    enqueue(run, id="done")
    enqueue(run, id="waiting")
    assert finish_next(db_url) == "done"  # the oldest job is claimed first
    before = dump(db_url)
    result = run(*args, ok=False)
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert message in result.stderr
    assert dump(db_url) == before


def test_a_folder_that_cannot_be_created(run_sqlite):
    result = run_sqlite("--db", "/proc/queuectl/x.db", "enqueue", '{"command": "true"}', ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot create the database folder /proc/queuectl")


def test_a_file_that_is_not_a_database(run_sqlite, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a database\n" * 100)
    before = text.read_bytes()
    result = run_sqlite("--db", str(text), "list", ok=False)
    assert result.exit_code == 1
    assert "is not a queuectl database" in result.stderr
    assert text.read_bytes() == before


def test_an_sqlite_file_of_another_program(run_sqlite, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    result = run_sqlite("--db", str(other), "status", ok=False)
    assert result.exit_code == 1 and "not a queuectl database" in result.stderr
    assert "invoices" in result.stderr


def test_a_database_from_a_newer_queuectl(run_sqlite, db_path):
    enqueue(run_sqlite)
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE queuectl_meta SET value = '99'")
    before = dump(db_path)
    result = run_sqlite("list", ok=False)
    assert result.exit_code == 1 and "newer queuectl (schema 99" in result.stderr
    assert dump(db_path) == before


def test_a_directory_as_database(run_sqlite, tmp_path):
    result = run_sqlite("--db", str(tmp_path), "status", ok=False)
    assert result.exit_code == 1 and "is a folder" in result.stderr


def test_an_unsupported_url(run_sqlite):
    result = run_sqlite("--db", "mongodb://localhost/x", "status", ok=False)
    assert result.exit_code == 1 and "unsupported database URL scheme 'mongodb'" in result.stderr


@pytest.mark.postgres
def test_a_search_path_naming_no_schema_says_to_create_it(monkeypatch):
    """README's Secrets example on a fresh database failed with PostgreSQL's own "no
    schema has been selected to create in", naming neither the schema nor the fix."""

    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    url = postgres_schema_url(base, "qt_never_created")
    result = _invoker()("--db", url, "add", "--", "true", ok=False)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no schema of the search_path (qt_never_created) exists in this database:"
        " create it first (CREATE SCHEMA qt_never_created), or name one that exists\n"
    )
    empty = _invoker()("--db", postgres_schema_url(base, ""), "add", "--", "true", ok=False)
    assert empty.stderr == (
        "Error: the search_path is empty: name a schema to keep the tables in\n"
    )  # it said "(CREATE SCHEMA )"


def test_a_ctrl_c_while_the_cli_still_loads_exits_130_quietly(monkeypatch):
    """In the first tenth of a second (importing click and the core) a Ctrl+C ended the
    process with a traceback and a death by SIGINT, where commands exit 130."""
    import builtins
    import sys

    from queuectl import entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "queuectl.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "queuectl.cli")
    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == 130


def test_show_keeps_a_command_with_tabs_on_one_line(db_url):
    """rich measured a tab as nothing and drew it as up to eight cells: the command was
    wrapped onto a second line, which in a shell command reads as a second command."""
    run = _invoker()
    run("--db", db_url, "add", "--id", "tabs", "--delay", "1h", "--", "echo a\tb\tc\td")
    shown = run("--db", db_url, "show", "tabs").stdout.splitlines()
    [command] = [line for line in shown if line.startswith("command")]
    assert command.split(None, 1)[1].split() == ["echo", "a", "b", "c", "d"]
    following = shown[shown.index(command) + 1]
    assert following.startswith("queue"), shown
