"""``queuectl cron``: the commands, their ``--json`` and every error's one line and exit code."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest

from queuectl.lifecycle import schedules
from queuectl.store import db
from queuectl.store.models import Job
from tests.conftest import dump

JOB = '{"command": "echo hi", "queue": "ops"}'
LIST_KEYS = {
    "name",
    "spec",
    "tz",
    "paused",
    "next_fire_at",
    "last_fired_at",
    "last_job_id",
    "last_job_state",
    "skipped",
}


def test_add_list_show_pause_resume_run_edit_remove(run, db_url):
    result = run("cron", "add", "nightly", "30 2 * * *", JOB, "--tz", "Europe/Berlin")
    assert result.stdout.startswith(
        "schedule nightly added: 30 2 * * * (At 02:30 every day, Europe/Berlin); next fire "
    )
    # No cron daemon: with no worker running, nothing would fire it, and it said nothing.
    assert result.stderr == (
        "cron add: no worker is running: schedules fire on live workers (queuectl worker start)\n"
    )
    run("cron", "add", "ping", "@every 30s", JOB, "--catchup", "5m", "--overlap", "allow")
    listed = json.loads(run("cron", "list", "--json").stdout)
    assert [(s["name"], s["spec"], s["tz"], s["paused"]) for s in listed] == [
        ("nightly", "30 2 * * *", "Europe/Berlin", False),
        ("ping", "@every 30s", "UTC", False),
    ]
    assert set(listed[0]) == LIST_KEYS
    assert listed[0]["next_fire_at"].endswith(":30:00.000Z")  # 02:30 Berlin is :30 in UTC
    table = run("cron", "list").stdout.splitlines()
    header = "NAME SPEC TZ NEXT LAST LAST JOB STATE SKIPPED"
    assert table[0].split() == header.split()
    shown = json.loads(run("cron", "show", "ping", "--json").stdout)
    assert (shown["catchup"], shown["overlap"], shown["description"]) == (
        300.0,
        "allow",
        "Every 30s",
    )
    assert shown["job"]["queue"] == "ops" and len(shown["upcoming"]) == 3
    assert "spec        @every 30s (Every 30s)" in run("cron", "show", "ping").stdout

    assert run("cron", "pause", "ping").stdout.endswith("; paused\n")
    # Paused, its stored tick is where the pause left it (soon long past): none, as the
    # table's NEXT says "paused" and status --json leaves it out.
    paused = {s["name"]: s for s in json.loads(run("cron", "list", "--json").stdout)}["ping"]
    assert paused["paused"] is True and paused["next_fire_at"] is None
    # Said again, it said "schedule ping paused" as if it had changed (queue pause: "was
    # paused already").
    assert run("cron", "pause", "ping").stdout.startswith("schedule ping was paused already: ")
    assert run("cron", "resume", "ping").stdout.startswith("schedule ping resumed: ")
    assert run("cron", "resume", "ping").stdout.startswith("schedule ping was not paused: ")
    assert json.loads(run("cron", "resume", "ping", "--json").stdout)["paused"] is False
    job_id = run("cron", "run", "ping").stdout.strip()
    assert job_id.startswith("ping:") and ".run" in job_id
    db.open_database(db_url)
    assert Job.get_by_id(job_id).queue == "ops"
    db.close_database()
    assert json.loads(run("cron", "show", "ping", "--json").stdout)["last_job_state"] == "pending"
    # A change's --json is the schedule in full, what it changed included (it was the
    # list's shape: no catch-up, overlap or job); a run's names its job and gives it.
    changed = json.loads(run("cron", "edit", "ping", "--catchup", "1h", "--json").stdout)
    assert (changed["catchup"], changed["overlap"], changed["job"]["queue"]) == (
        3600.0,
        "allow",
        "ops",
    )
    assert set(changed) >= LIST_KEYS
    fired = json.loads(run("cron", "run", "ping", "--json").stdout)
    assert fired["job_id"] == fired["job"]["id"] and fired["job"]["queue"] == "ops"
    assert fired["job"]["state"] == "pending"

    edited = run("cron", "edit", "ping", "--spec", "@hourly", "--overlap", "skip").stdout
    assert edited.startswith(
        "schedule ping changed: @hourly (At the start of every hour, UTC); next fire "
    )
    assert run("cron", "remove", "ping").stdout == (
        "schedule ping removed (the jobs it fired stay)\n"
    )
    assert [s["name"] for s in json.loads(run("cron", "list", "--json").stdout)] == ["nightly"]


def test_an_empty_list_says_how_to_add_one(run_sqlite):
    assert "\nno schedules yet: add one with" in run_sqlite("cron", "list").stderr
    assert run_sqlite("cron", "list", "--json").stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", "61 * * * *", JOB), "invalid cron spec '61 * * * *': bad minute"),
        (("x", "0 0 31 2 *", JOB), "invalid cron spec '0 0 31 2 *': bad day-of-month"),
        (("x", "* * *", JOB), "has 3"),
        (("x", "@every 0s", JOB), "@every must be at least 1s"),
        # It suggested '500ms', which @every then refused as under 1s.
        (("x", "@every -5s", JOB), "like '30s', '5m', '1h30m', '1d' (got '-5s')"),
        (("x", "@sometimes", JOB), "unknown shortcut '@sometimes'"),
        (("x", "@daily", JOB, "--tz", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("x", "@daily", JOB, "--tz", ""), "--tz must be an IANA time zone"),
        # This host's own zone: on PostgreSQL each host firing it would read its own.
        (("x", "@daily", JOB, "--tz", "localtime"), "unknown time zone 'localtime'"),
        (("x", "@daily", JOB, "--tz", "Factory"), "unknown time zone 'Factory'"),
        (("x", "@daily", JOB, "--tz", "right/Europe/Berlin"), "unknown time zone 'right/"),
        (("x", "@daily", "{"), "invalid JSON"),
        (  # it said "for a plain command use: queuectl add -- COMMAND", which makes no schedule
            ("x", "@daily", "tar czf /backup/home.tgz ~"),
            "invalid JSON: Expecting value at column 1"
            """ (a schedule's job is a JSON object: '{"command": "backup.sh"}')""",
        ),
        (("x", "@daily", '{"cmd": "a"}'), "unknown key 'cmd'"),
        (  # the keys a schedule's job takes: it listed id, run_at, delay and after
            ("x", "@daily", '{"command": "a", "bogus": 1}'),
            "allowed keys: command, priority, max_retries, timeout, queue, cwd, env,"
            " on_success, on_failure, tty, unique_key",
        ),
        (("x", "@daily", '{"command": "a", "id": "z"}'), 'may not set "id"'),
        (("x", "@daily", '{"command": "a", "delay": 5}'), 'may not set "delay"'),
        (("x", "@daily", '{"command": "a", "after": "b"}'), "never waiting for other jobs"),
        (("x", "@daily", '{"command": "a", "priority": "hi"}'), '"priority" must be an integer'),
        (("x", "@daily", '{"command": "a", "cwd": "/nonexistent/dir"}'), "not a directory"),
        (("bad name!", "@daily", JOB), "a schedule name must be 1-40 characters"),
        (("--", "-x", "@daily", JOB), "not starting with -"),
        (("x", "@daily", JOB, "--catchup", "5 m"), "--catchup must be"),
        (("x", "@daily", JOB, "--overlap", "maybe"), "'maybe' is not one of 'skip', 'allow'"),
        (("x", "@daily"), "Missing argument 'JOB-JSON'"),
    ],
)
def test_bad_add_is_one_line_exit_2_and_stores_nothing(run_sqlite, db_path, args, message):
    run_sqlite("cron", "add", "kept", "@daily", JOB)
    before = dump(db_path)
    result = run_sqlite("cron", "add", *args, ok=False)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line, line
    assert dump(db_path) == before


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "kept", "@hourly", JOB), 1, "a schedule named 'kept' already exists"),
        (("show", "nope"), 1, "no schedule named 'nope'"),
        (("pause", "nope"), 1, "no schedule named 'nope'"),
        (("resume", "nope"), 1, "no schedule named 'nope'"),
        (("run", "nope"), 1, "no schedule named 'nope'"),
        (("remove", "nope"), 1, "no schedule named 'nope'"),
        (("edit", "nope", "--tz", "UTC"), 1, "no schedule named 'nope'"),
        (("edit", "kept"), 2, "nothing to change"),
        (("edit", "kept", "--spec", "0 0 30 2 *"), 2, "bad day-of-month"),
        (("edit", "kept", "--tz", "Nowhere/Land"), 2, "unknown time zone"),
        (("edit", "kept", "--job", '{"command": 5}'), 2, '"command" must be a string'),
    ],
)
def test_conflicts_exit_1_and_bad_edits_exit_2_changing_nothing(
    run_sqlite, db_path, args, code, message
):
    run_sqlite("cron", "add", "kept", "@daily", JOB)
    before = dump(db_path)
    result = run_sqlite("cron", *args, ok=False)
    assert result.exit_code == code, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line, line
    assert dump(db_path) == before


def test_a_fired_job_shows_in_list_with_its_state(run_sqlite, db_path):
    run_sqlite("cron", "add", "tick", "@every 5s", JOB)
    db.open_database(db_path)
    due = schedules.get("tick").next_fire_at
    [job_id] = schedules.fire_due(due).enqueued
    db.close_database()
    [entry] = json.loads(run_sqlite("cron", "list", "--json").stdout)
    assert (entry["last_job_id"], entry["last_job_state"]) == (job_id, "pending")
    assert job_id in run_sqlite("list").stdout


def test_status_counts_the_schedules_and_names_the_next_to_fire(run, db_url):
    assert json.loads(run("status", "--json").stdout)["schedules"] == {
        "count": 0,
        "paused": 0,
        "next": None,
    }
    assert "Schedules" not in run("status").stdout  # no line until there is one
    run("cron", "add", "hourly", "@hourly", JOB)
    run("cron", "add", "soon", "@every 30m", JOB)
    run("cron", "add", "later", "@daily", JOB)
    run("cron", "pause", "soon")
    figures = json.loads(run("status", "--json").stdout)["schedules"]
    shown = {s["name"]: s for s in json.loads(run("cron", "list", "--json").stdout)}
    assert figures == {
        "count": 3,
        "paused": 1,
        "next": {"name": "hourly", "next_fire_at": shown["hourly"]["next_fire_at"]},
    }
    line = next(x for x in run("status").stdout.splitlines() if x.startswith("Schedules"))
    assert line.startswith("Schedules  3 (1 paused); next: hourly "), line  # in …, or due now

    for name in ("hourly", "later"):
        run("cron", "pause", name)
    assert json.loads(run("status", "--json").stdout)["schedules"]["next"] is None
    assert "Schedules  3 (3 paused); none active" in run("status").stdout


def test_a_paused_schedule_shows_the_fires_it_would_make_once_resumed(run_sqlite, db_path):
    """Paused, it listed the ticks the pause had left, long past ("9.1s ago")."""
    run_sqlite("cron", "add", "cu", "@every 5s", JOB)
    run_sqlite("cron", "pause", "cu")
    db.open_database(db_path)
    try:  # paused an hour ago
        schedules.Schedule.update(next_fire_at=time.time() - 3600).execute()
    finally:
        db.close_database()
    shown = json.loads(run_sqlite("cron", "show", "cu", "--json").stdout)["upcoming"]
    assert all(datetime.fromisoformat(tick) > datetime.now(UTC) for tick in shown), shown
    line = next(ln for ln in run_sqlite("cron", "show", "cu").stdout.splitlines() if "next" in ln)
    assert line.startswith("next fires  once resumed: ") and "ago" not in line, line


def test_running_a_schedule_whose_folder_has_gone_is_exit_1(run_sqlite, tmp_path):
    """The name typed was right; the stored job is refused: a runtime condition (exit 1),
    not a usage error (it said exit 2)."""
    folder = tmp_path / "gone"
    folder.mkdir()
    run_sqlite("cron", "add", "g", "@daily", json.dumps({"command": "pwd", "cwd": str(folder)}))
    folder.rmdir()
    result = run_sqlite("cron", "run", "g", ok=False)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: schedule g's job was not enqueued: \"cwd\" '{folder}' is not a directory"
        " on this host\n"
    )


@pytest.mark.parametrize("width", [80, 100, 120])
def test_cron_list_on_a_terminal_keeps_spec_and_next_whole(run_sqlite, db_path, width):
    """At 80 columns SPEC was gone and NEXT read ``in 15…``: Rich cut every column alike.
    Now LAST JOB, NAME and TZ give way first, and LAST JOB is left out before SPEC is cut."""
    import io

    from rich.console import Console

    from queuectl.cli.cron import schedules_table

    run_sqlite("cron", "add", "n" * 40, "30 2 * * 1-5", JOB, "--tz", "America/New_York")
    spec = "0,15,30,45 8-18 * * 1-5"  # a long spec in a long zone cut both at 80 columns
    run_sqlite("cron", "add", "pgc", spec, JOB, "--tz", "America/Indiana/Indianapolis")
    run_sqlite("cron", "add", "berl", "* * * * *", JOB, "--tz", "Europe/Berlin")
    run_sqlite("cron", "run", "berl")
    found = schedules.list_schedules()
    out = Console(width=width, file=io.StringIO(), color_system=None)
    out.print(schedules_table(found, now=time.time(), width=width))
    lines = out.file.getvalue().splitlines()
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].split()[:4] == ["NAME", "SPEC", "TZ", "NEXT"], lines
    shown = out.file.getvalue()
    assert "30 2 * * 1-5" in shown and "* * * * *" in shown and spec in shown
    assert any(re.search(r" in \d+h\d\dm ", line) for line in lines), lines  # NEXT whole
    assert lines[0].rstrip().endswith("STATE    SKIPPED")
    assert ("LAST JOB" in lines[0]) == (width >= 90)


def test_fitted_widths_cut_in_order_and_drop_what_cannot_fit():
    from queuectl.cli.render import fitted_widths

    rows = [("a" * 30, "b" * 10, "c" * 20)]
    headers = ("A", "B", "C")
    assert fitted_widths(headers, rows, None, ((0, 5), (2, 0))) == [30, 10, 20]
    assert fitted_widths(headers, rows, 60, ((0, 5), (2, 0))) == [26, 10, 20]
    # A cut to its narrowest, then C dropped, and A gets its room back.
    assert fitted_widths(headers, rows, 30, ((0, 5), (2, 0))) == [18, 10, 0]
    # A shrink never widens a column already narrower than its floor.
    assert fitted_widths(headers, [("a", "b", "c")], 3, ((1, 5), (2, 0))) == [1, 1, 0]


def test_an_edited_job_keeps_the_schedules_folder_unless_it_names_one(run, tmp_path, monkeypatch):
    """``cron edit --job`` from another directory moved the job there, unsaid: its
    ``./backup.sh`` was not found that night (a schedules operator's try)."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    run("cron", "add", "nightly", "@daily", '{"command": "./backup.sh"}')
    monkeypatch.chdir(elsewhere)
    run("cron", "edit", "nightly", "--job", '{"command": "./backup.sh --full"}')
    shown = json.loads(run("cron", "show", "nightly", "--json").stdout)
    assert shown["job"] == {"command": "./backup.sh --full", "cwd": str(work)}
    run("cron", "edit", "nightly", "--job", f'{{"command": "x", "cwd": "{elsewhere}"}}')
    assert json.loads(run("cron", "show", "nightly", "--json").stdout)["job"]["cwd"] == str(
        elsewhere
    )
