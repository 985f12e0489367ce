"""Every bad value: one line on stderr, the documented exit code, the database unchanged.

And the other side: whatever an older queuectl stored (a run_at of 1e18, a
timeout of 1e8) never makes show, list, status or the dashboard crash.
"""

from __future__ import annotations

import json

import pytest

from queuectl.jobspec import MAX_LINE_BYTES
from queuectl.store import db
from queuectl.store.models import Job, Run
from tests.conftest import T0, dump
from tests.test_cli import enqueue

SURROGATE = "\ud800"
INVALID_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")  # Latin-1 bytes in an argument

BAD_VALUES = [
    ('{"command": "echo \\ud800"}', 2, '"command" holds a lone surrogate (\\ud800'),
    ('{"command": "x", "env": {"A": "\\udfff"}}', 2, '"env" A holds a lone surrogate'),
    (
        '{"command": "x", "run_at": 1e18}',
        2,
        "run_at must be between 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z",
    ),
    (
        '{"command": "x", "run_at": "1e18"}',
        2,
        "run_at must be between 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z",
    ),
    (
        '{"command": "x", "run_at": "1969-12-31T23:59:59Z"}',
        2,
        "between 1970-01-01T00:00:00.000Z and 9999",
    ),
    ('{"command": "x", "run_at": -1}', 2, "run_at must be between 1970-01-01"),
    # Past the millisecond times are kept to: the limit's own day, so the message names it.
    ('{"command": "x", "run_at": "9999-12-31T23:59:59.9999Z"}', 2, "and 9999-12-31T23:59:59.999Z"),
    ('{"command": "x", "delay": 1e300}', 2, "delay must be at most 100 years"),
    ('{"command": "x", "delay": "36600d"}', 2, "delay must be at most 100 years"),
    ('{"command": "x", "delay": "5 s"}', 2, "delay must be a number of seconds or a duration"),
    # It said "between 0..604800 s", a table's range in a sentence.
    ('{"command": "x", "timeout": 99999999}', 2, '"timeout" must be between 0 and 604800 s'),
    ('{"command": "x", "timeout": "8d"}', 2, "as job_timeout"),
    # It said "at most 100 years", then "between 0 and 604800 s" for 50 years.
    ('{"command": "x", "timeout": "99999999999999999999"}', 2, "between 0 and 604800 s"),
    ('{"command": "x", "timeout": "1h 30m"}', 2, "timeout must be a number of seconds"),
    ('{"command": "x", "env": ["A=1"]}', 2, '"env" must be an object of strings, not an array'),
    ('{"command": "x", "env": {"A": 1}}', 2, '"env" values must be strings (got A: 1)'),
    ('{"command": "x", "env": {"A": null}}', 2, '"env" values must be strings (got A: null)'),
    ('{"command": "x", "env": {"1A": "x"}}', 2, '"env" names must be letters, digits and _'),
    ('{"command": "x", "env": {"QUEUECTL_JOB_ID": "x"}}', 2, "QUEUECTL_* names are set by"),
    ('{"command": "x", "env": {"A": "a\\u0000b"}}', 2, '"env" A must not contain NUL'),
    ("echo hi", 2, "for a plain command use: queuectl add -- COMMAND"),
]


@pytest.mark.parametrize(("payload", "code", "message"), BAD_VALUES)
def test_bad_values_in_a_job(run, db_url, payload, code, message):
    enqueue(run, id="existing")
    before = dump(db_url)
    result = run("enqueue", payload, ok=False)
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert dump(db_url) == before


BAD_ARGUMENTS = [
    (("show", INVALID_UTF8), "argument 2 is not valid UTF-8 (byte 0xe9 at position 3)"),
    (("list", "--search", SURROGATE), "argument 3 holds a lone surrogate"),
    (("add", "--", "echo", INVALID_UTF8), "argument 4 is not valid UTF-8"),
    (("add", "--priority", "-1", "--", "x"), '"priority" must be between 0 and 2147483647'),
    (("add", "--timeout", "99999999", "--", "x"), '"timeout" must be between'),
    (("add", "--delay", "5 s", "--", "x"), "delay must be a number of seconds"),
    (("add", "--run-at", "1e18", "--", "x"), "run_at must be between 1970-01-01"),
    (("add", "--env", "NOEQUALS", "--", "x"), "--env takes NAME=VALUE (got 'NOEQUALS')"),
    (("add", "-e", "A=1", "--env", "A=2", "--", "x"), "--env A is given twice ('1' and '2')"),
    (("add", "--env", "QUEUECTL_ATTEMPT=9", "--", "x"), "QUEUECTL_* names are set by"),
    (("add",), "Missing argument 'COMMAND...'"),
    (("config", "set", "poll_interval", "5 s"), "poll_interval must be a number of seconds"),
    # The duration as typed: it said "(got 691200)" for 8d.
    (
        ("config", "set", "job_timeout", "8d"),
        "job_timeout must be between 0 and 604800 s (got '8d')",
    ),
    (("config", "set", "backoff_base", "0.5"), "backoff_base must be between 1 and 60 (got 0.5)"),
    (("purge", "--older-than", "5 s"), "--older-than must be a number of seconds"),
    (("worker", "prune", "--older-than", "1 d"), "--older-than must be a number of seconds"),
    (("list", "--limit", "5", "--all"), "give --limit N or --all, not both"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments(run, db_url, args, message):
    enqueue(run, id="existing")
    before = dump(db_url)
    result = run(*args, ok=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert dump(db_url) == before


def test_compound_durations_are_accepted_everywhere(run, db_url):
    job = json.loads(
        run("add", "--delay", "1h30m", "--timeout", "2m30s", "--json", "--", "x").stdout
    )
    assert job["timeout"] == 150.0
    assert run("config", "set", "backoff_max", "1h30m").stdout == "backoff_max = 5400\n"
    assert run("purge", "--older-than", "1d12h").exit_code == 0


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_invalid_utf8_in_a_file_names_the_line(run, db_url, tmp_path, source):
    enqueue(run)
    before = dump(db_url)
    data = b'{"command": "ok"}\n{"command": "caf\xe9"}\n'
    if source == "file":
        jobs = tmp_path / "jobs.jsonl"
        jobs.write_bytes(data)
        result = run("enqueue", "--file", str(jobs), ok=False)
    else:
        result = run("enqueue", "-", input=data, ok=False)
    assert result.exit_code == 2
    assert result.stderr == "Error: line 2: not valid UTF-8 (byte 0xe9 at column 17)\n"
    assert dump(db_url) == before


def test_a_cwd_missing_here_is_refused_on_sqlite(run_sqlite, db_path, tmp_path):
    enqueue(run_sqlite)
    before = dump(db_path)
    missing = tmp_path / "not-there"
    result = run_sqlite("add", "--cwd", str(missing), "--", "make", ok=False)
    assert result.exit_code == 2
    assert result.stderr == f"Error: \"cwd\" '{missing}' is not a directory on this host\n"
    lines = f'{{"command": "a"}}\n{{"command": "b", "cwd": "{missing}"}}\n'
    result = run_sqlite("enqueue", "-", input=lines, ok=False)
    assert result.exit_code == 2 and result.stderr.startswith("Error: line 2: ")
    assert dump(db_path) == before


@pytest.mark.postgres
def test_a_cwd_missing_here_is_a_warning_on_postgres(pg_url, tmp_path):
    from tests.test_cli import _invoker

    run = _invoker()
    missing = tmp_path / "on-another-host"
    result = run("add", "--cwd", str(missing), "--", "make")
    assert result.stdout.strip() and result.stderr.startswith("Warning: cwd ")
    assert "not a directory on this host" in result.stderr


def test_an_unsupported_database_url_is_one_line(run_sqlite):
    for url in ("mysql://x/y", "redis://localhost/0", "http://example.com/db"):
        result = run_sqlite("--db", url, "status", ok=False)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and "unsupported database URL scheme" in result.stderr


# --- what an older queuectl may have stored ---------------------------------------------


def _store_nonsense(location: str, job_id: str) -> None:
    db.open_database(location)
    Job.update(run_at=1e18, timeout=99999999.0, created_at=1e300).where(Job.id == job_id).execute()
    Run.insert(
        job=job_id, run=1, attempt=1, started_at=-5.0, finished_at=1e18, duration=1e18
    ).execute()
    db.close_database()


def test_stored_nonsense_never_breaks_show_list_status_or_the_dashboard(run, db_url):
    job_id = enqueue(run)
    enqueue(run)
    _store_nonsense(db_url, job_id)
    shown = run("show", job_id).stdout
    assert "invalid time (1e+18)" in shown and "invalid time (-5)" in shown
    assert "3y62d" in shown and "1e+08" not in shown  # the timeout, readable
    record = json.loads(run("show", job_id, "--json").stdout)
    assert (record["run_at"], record["created_at"], record["timeout"]) == (None, None, 99999999.0)
    assert record["runs"][0]["started_at"] is None
    assert job_id in run("list").stdout
    assert len(json.loads(run("list", "--json").stdout)) == 2
    assert run("status").exit_code == 0 and run("logs", job_id).exit_code == 0

    from tui.data import Request, read_snapshot

    db.open_database(db_url)
    snapshot = read_snapshot(Request(), T0)
    db.close_database()
    assert job_id in dict(snapshot.jobs.rows)


def test_add_takes_the_hooks_as_enqueue_does(run, db_url):
    job = json.loads(
        run(
            "add", "--on-success", "notify-send done", "--on-failure", "", "--json", "--", "make"
        ).stdout
    )
    shown = json.loads(run("show", job["id"], "--json").stdout)
    assert (shown["on_success"], shown["on_failure"]) == ("notify-send done", "")


def test_a_json_error_names_its_place_once(run):
    """json's reason for a raw tab ends in "at": the line read "… character at at column 14"."""
    result = run("enqueue", '{"command": "a\tb"}', ok=False)
    assert result.exit_code == 2
    assert result.stderr == "Error: invalid JSON: Invalid control character at column 15\n"
    multiline = run("enqueue", '{\n  "command": "a",\n  "queue": \n}', ok=False)
    assert multiline.stderr == "Error: invalid JSON: Expecting value at line 4 column 1\n"


def test_an_env_value_linux_cannot_pass_is_refused_at_enqueue(run):
    """A 200 KB value was stored, then every attempt failed with "Argument list too long"."""
    value = "x" * (128 * 1024)
    result = run("add", "--env", f"BIG={value}", "--", "true", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        'Error: "env" BIG must be at most 131071 bytes with its name, the longest variable'
        " Linux passes to a program (got 131076)\n"
    )
    assert run("list", "--json").stdout.strip() == "[]"
    fits = "x" * (128 * 1024 - 1 - len("BIG="))
    assert run("add", "--env", f"BIG={fits}", "--", "true").exit_code == 0


def test_an_environment_linux_cannot_pass_whole_is_refused_at_enqueue(run, tmp_path):
    """Each variable was checked alone: 20,000 of 100 bytes were stored, then every
    attempt failed with "Argument list too long" into the DLQ (an outside try)."""
    many = {f"V{index}": "x" * 95 for index in range(20_000)}
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"command": "true", "env": many}) + "\n")
    result = run("enqueue", "--file", str(jobs), ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        'Error: line 1: "command" and "env" together must be at most 1048576 bytes, half of'
        " what Linux passes to a program, the rest left to the worker's environment"
        " (got 2208903)\n"
    )
    assert run("list", "--json").stdout.strip() == "[]"
    half = {name: value for name, value in list(many.items())[:9_000]}  # 1,008,903 bytes
    jobs.write_text(json.dumps({"command": "true", "env": half}) + "\n")
    assert run("enqueue", "--file", str(jobs)).exit_code == 0


def test_a_jobs_file_line_longer_than_any_job_is_refused_unread(run, tmp_path):
    """``enqueue --file /dev/zero`` read one line for ever (3.7 GB in six seconds)."""
    endless = tmp_path / "endless"
    endless.write_bytes(b"x" * (MAX_LINE_BYTES + 1))
    for source in (str(endless), "/dev/zero"):
        result = run("enqueue", "--file", source, ok=False)
        assert result.exit_code == 2
        assert result.stderr == (
            f"Error: line 1: longer than {MAX_LINE_BYTES} bytes, more than a job can be"
            " (one JSON object per line)\n"
        )
    assert run("list", "--json").stdout.strip() == "[]"


def test_an_error_quoting_a_huge_value_stays_a_readable_line(run_sqlite, db_path):
    """A 100 KB queue name was quoted whole: one error line of 100 KB. Its start and its
    length are quoted (a dashboard toast of a 20,000-character paste covered the screen)."""
    huge = "q" * 100_000
    before = dump(db_path)
    result = run_sqlite("add", "--queue", huge, "--", "true", ok=False)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith('Error: "queue" must be 1-64 characters')
    assert line.endswith(f"(got '{'q' * 48}'… (100,000 characters))"), line
    assert len(line) < 200
    assert dump(db_path) == before
