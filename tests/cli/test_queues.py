"""``queuectl queue list|pause|resume|limit`` and what ``status`` says of steered queues."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from queuectl.lifecycle import claim as claiming
from queuectl.store import db
from queuectl.store.models import RunOutcome
from tests.conftest import dump, end_attempt
from tests.test_cli import enqueue


def test_pause_limit_list_and_resume_by_name(run, db_url):
    enqueue(run, queue="images")
    enqueue(run, queue="images")
    assert run("queue", "pause", "images", "nightly").stdout.splitlines() == [
        "queue images paused; 2 jobs wait",
        "queue nightly paused; 0 jobs wait",
    ]
    assert run("queue", "limit", "default", "3").stdout == (
        "queue default: at most 3 at once (0 running)\n"
    )
    # Asked again, or of a name nothing paused (a typo): said as such, not as a change.
    assert (
        run("queue", "pause", "images").stdout == "queue images was paused already; 2 jobs wait\n"
    )
    assert run("queue", "limit", "default", "3").stdout == (
        "queue default: at most 3 at once, as it was (0 running)\n"
    )
    assert run("queue", "resume", "imgaes").stdout == "queue imgaes was not paused; 0 jobs wait\n"
    assert run("queue", "limit", "imgaes", "none").stdout == (
        "queue imgaes: no limit, as it was (0 running)\n"
    )
    listed = json.loads(run("queue", "list", "--json").stdout)
    assert [(q["name"], q["paused"], q["limit"]) for q in listed] == [
        ("default", False, 3),
        ("images", True, None),
        ("nightly", True, None),
    ]
    assert listed[1]["counts"]["pending"] == 2 and listed[1]["running"] == 0
    assert set(listed[0]) == {
        "name",
        "paused",
        "limit",
        "counts",
        "held",
        "running",
        "workers",
        "finished_5m",
    }
    table = run("queue", "list").stdout.splitlines()
    assert table[0].split()[:4] == ["QUEUE", "STATE", "LIMIT", "PENDING"]
    assert table[2].split()[:4] == ["images", "paused", "-", "2"]

    resumed = json.loads(run("queue", "resume", "images", "--json").stdout)
    assert resumed[0]["name"] == "images" and resumed[0]["paused"] is False
    assert run("queue", "limit", "default", "none").stdout.startswith("queue default: no limit")
    assert [q["name"] for q in json.loads(run("queue", "list", "--json").stdout)] == [
        "images",
        "nightly",
    ]


def test_held_jobs_are_counted_as_held_not_as_waiting(run):
    """A queue of held jobs read as pending: jobs no worker would take until released."""
    kept = enqueue(run, queue="images")
    enqueue(run, queue="images")
    run("hold", kept)
    [images] = json.loads(run("queue", "list", "--json").stdout)
    assert (images["counts"]["pending"], images["held"]) == (2, 1)  # counts: every state
    table = run("queue", "list").stdout.splitlines()
    assert table[0].split()[3:7] == ["PENDING", "BLOCKED", "HELD", "PROCESSING"]
    assert table[1].split()[:7] == ["images", "active", "-", "1", "0", "1", "0"]
    assert run("queue", "pause", "images").stdout == "queue images paused; 1 job waits\n"
    run("release", kept)
    assert json.loads(run("queue", "list", "--json").stdout)[0]["held"] == 0


def test_status_shows_paused_and_limited_queues(run):
    enqueue(run, queue="mail")
    run("queue", "pause", "mail")
    run("queue", "limit", "render", "2")
    text = run("status").stdout
    assert "Queues (paused or limited)" in text
    assert "mail        paused: 0 running, 1 waiting" in text
    assert "render      limit 2: 0 running, 0 waiting" in text
    steered = json.loads(run("status", "--json").stdout)["steered_queues"]
    assert steered == [
        {"name": "mail", "paused": True, "limit": None},
        {"name": "render", "paused": False, "limit": 2},
    ]
    run("queue", "resume", "mail")
    run("queue", "limit", "render", "none")
    assert "Queues" not in run("status").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("queue", "limit", "q", "0"), "at least 1 (got 0); to stop new starts, pause the queue"),
        (("queue", "limit", "q", "-2"), "at least 1 (got -2)"),
        (("queue", "limit", "q", "two"), "whole number of jobs (1-100000) or 'none' (got 'two')"),
        (("queue", "limit", "q", "1.5"), "whole number of jobs"),
        (("queue", "limit", "q", "100001"), "at most 100000"),
        (("queue", "limit", "q"), "Missing argument 'N|none'"),
        (("queue", "limit", "bad name", "2"), "a queue name must be 1-64 characters"),
        (("queue", "pause"), "Missing argument 'NAME...'"),
        (("queue", "pause", "ok", "no/slash"), "(got 'no/slash')"),
        (("queue", "pause", "--", "--all"), "not starting with - (got '--all')"),
        (("queue", "resume", "x" * 65), "a queue name must be"),
        (("queue", "pause", "q", "--timeout", "5s"), "--timeout goes with --wait"),
        (("queue", "pause", "q", "--wait", "--timeout", "5 s"), "--timeout"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(run, db_url, args, message):
    run("queue", "pause", "kept")
    before = dump(db_url)
    result = run(*args, ok=False)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line, line
    assert dump(db_url) == before


def test_pause_wait_returns_when_the_running_job_ends_and_names_it_at_the_timeout(run, db_url):
    job_id = enqueue(run, queue="etl", command="sleep 60")
    db.open_database(db_url)
    claim = claiming.claim("w1", ("etl",), host="test")
    db.close_database()
    assert claim is not None
    result = run("queue", "pause", "etl", "--wait", "--timeout", "0.3", ok=False)
    assert result.exit_code == 1
    waits = (
        "paused; waiting for 1 running job to end (Ctrl+C stops the wait; the queues stay paused)\n"
    )
    assert result.stderr == waits + (
        f"Error: still running after 0.3s: {job_id} in etl (sleep 60) (the queues stay paused)\n"
    )
    assert result.stdout == "queue etl paused; 1 job running goes on, 0 jobs wait\n"
    # What it did is on stdout under --json too: the pause stays (it printed nothing).
    as_json = run("queue", "pause", "etl", "--wait", "--timeout", "0.1", "--json", ok=False)
    assert as_json.exit_code == 1
    assert [entry["paused"] for entry in json.loads(as_json.stdout)] == [True]
    # The job ends while a second `pause --wait` (a process of its own) waits: it returns.
    run("queue", "resume", "etl")
    waiting = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "queue", "pause", "etl", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None and waiting.stdout is not None
        # Both before its wait: the pause on stdout (a Ctrl+C during the wait left stdout
        # empty, the pause made), and what it waits for on stderr.
        paused = waiting.stdout.readline()
        assert paused == "queue etl paused; 1 job running goes on, 0 jobs wait\n"
        said = waiting.stderr.readline()
        assert said == waits and waiting.poll() is None, "it waits while the job runs"
        db.open_database(db_url)
        end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0)
        out, err = waiting.communicate(timeout=20)
    finally:
        waiting.kill()
    assert (waiting.returncode, out, err) == (0, "", "the running jobs have ended\n")


def test_list_on_a_missing_database_creates_nothing(run_sqlite, tmp_path):
    missing = tmp_path / "nowhere" / "queue.db"
    result = run_sqlite("--db", str(missing), "queue", "list", "--json")
    assert json.loads(result.stdout) == []
    assert not missing.parent.exists()


def test_at_80_columns_queue_list_keeps_the_held_and_dead_figures():
    """Rich's squeeze cut every column alike: HELD and DEAD went whole at 80 columns,
    so a held job showed nowhere (``list`` and ``cron list`` were already fitted)."""
    from rich.console import Console

    from queuectl.cli.queues import queues_table
    from queuectl.lifecycle.queues import QueueFigures

    entry = QueueFigures("a-rather-long-queue-name", held_counts={"pending": 1})
    entry.counts.update(pending=1, dead=2)
    out = Console(width=80, record=True, color_system=None)
    out.print(queues_table([entry, QueueFigures("other", paused=True)], width=80))
    header, first, second = out.export_text().splitlines()
    assert max(len(line) for line in (header, first, second)) <= 80
    assert header.split() == [
        "QUEUE", "STATE", "PENDING", "BLOCKED", "HELD", "PROCESSING", "FAILED", "DEAD", "WORKERS"
    ]  # fmt: skip
    assert first.split() == ["a-rather-lon…", "active", "0", "0", "1", "0", "0", "2", "0"]
    assert second.split()[:2] == ["other", "paused"]


def test_at_80_columns_a_limit_someone_set_stays_and_columns_of_zeros_go_first():
    """``queue limit images 2`` then ``queue list`` at 80 columns: LIMIT was gone, beside
    BLOCKED and HELD columns of zeros (a newcomer's try)."""
    from rich.console import Console

    from queuectl.cli.queues import queues_table
    from queuectl.lifecycle.queues import QueueFigures

    images = QueueFigures("images", paused=True, limit=2)
    images.counts.update(pending=3, processing=2, failed=3)
    out = Console(width=80, record=True, color_system=None)
    out.print(queues_table([images, QueueFigures("default")], width=80))
    header, first, _second = out.export_text().splitlines()
    assert max(len(line) for line in (header, first)) <= 80
    assert "LIMIT" in header.split() and "BLOCKED" not in header.split()
    assert first.split()[:4] == ["images", "paused", "2", "3"]


def test_list_says_a_waiting_job_in_a_paused_queue_is_paused(run):
    """WHEN read "2.4s ago" for a job of a paused queue, as if about to run: only ``wait``
    and ``logs --follow`` said the queue was paused (a pueue user's try)."""
    enqueue(run, id="img", queue="images")
    enqueue(run, id="def")
    run("queue", "pause", "images")
    rows = {line.split()[0]: line.split() for line in run("list").stdout.splitlines()[1:]}
    assert rows["img"][5] == "paused"  # WHEN (piped: before COMMAND)
    assert rows["def"][5] != "paused"
    run("queue", "resume", "images")
    rows = {line.split()[0]: line.split() for line in run("list").stdout.splitlines()[1:]}
    assert rows["img"][5] != "paused"
