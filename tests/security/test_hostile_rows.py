"""Rows written past the CLI's checks (by hand, another program, a member of a shared
PostgreSQL queue, or a hostile database read with a warning) are shown inert.

Ids, worker ids and queue names are checked when the CLI stores them, so the plain
CLI printed them as stored: an id holding an OSC 52 write set the reader's clipboard.
"""

from __future__ import annotations

import logging

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.runtime.worklog import InertFormatter
from queuectl.store import db
from queuectl.store.models import Dependency, Job, Run, Worker
from tests.conftest import T0
from tests.test_cli import _invoker

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x1b\\"
CLEAR = "\x1b[2J"


@pytest.fixture
def run():
    return _invoker()


def _plant(location: str) -> None:
    """A job, its dependent, its run and its worker, each id and queue name hostile."""
    db.open_database(location)
    enqueuing.enqueue(JobSpec(command="true", id="evil", queue="q"), now=T0, cwd="/")
    enqueuing.enqueue(JobSpec(command="true", id="dep", after=("evil",)), now=T0, cwd="/")
    Job.update(id="j" + OSC52, queue="q" + CLEAR).where(Job.id == "evil").execute()
    Dependency.update(depends_on="j" + OSC52).execute()
    worker = "w" + CLEAR
    Worker.create(id=worker, pid=1, host="h", queues="q" + CLEAR, started_at=T0, heartbeat_at=2e9)
    Job.update(state="processing", worker_id=worker, started_at=T0).where(
        Job.id == "j" + OSC52
    ).execute()
    Run.insert(job="j" + OSC52, run=1, attempt=1, worker_id=worker, started_at=T0).execute()
    Worker.update(current_job="j" + OSC52).execute()
    db.close_database()


def test_hostile_ids_worker_ids_and_queue_names_are_shown_inert(run, db_url):
    _plant(db_url)
    said = []
    for args in (
        ("list",),
        ("list", "--all"),
        ("show", "j" + OSC52),
        ("show", "dep"),
        ("status",),
        ("worker", "list"),
        ("metrics",),
        ("cancel", "--state", "blocked", "--yes"),
    ):
        result = run(*args, ok=False)
        assert result.exit_code == 0, (args, result.stderr)
        said.append((args, result.stdout + result.stderr))
    for args, text in said:
        assert "\x1b" not in text, (args, text)
    shown = dict(said)
    assert "j␛]52;c;cm0gLXJmIH4K␛\\" in shown[("list", "--all")]
    assert "w␛[2J" in shown[("worker", "list")]


def test_a_worker_id_given_by_hand_follows_the_job_id_rule(run):
    result = run("worker", "run", "--id", "w" + CLEAR, ok=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert "\x1b" not in result.stderr and "--id must be 1-64 characters" in result.stderr


def test_the_worker_log_is_inert_whatever_a_line_quotes() -> None:
    record = logging.LogRecord(
        "queuectl.worker", logging.INFO, __file__, 1, "job %s ended", ("j" + OSC52,), None
    )
    line = InertFormatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO job j␛]52;c;cm0gLXJmIH4K␛\\ ended"


def test_stats_shows_a_hostile_queue_name_inert(run, db_url):
    """``stats`` printed a stored queue name raw: an OSC 52 clipboard write and a screen
    clear from another member of a shared PostgreSQL queue reached the reader."""
    import time

    from queuectl.lifecycle import claim as claiming
    from queuectl.states import RunOutcome
    from tests.conftest import end_attempt

    db.open_database(db_url)
    now = time.time()
    enqueuing.enqueue(JobSpec(command="true", id="done"), now=now, cwd="/")
    claim = claiming.claim("w1", host="h", now=now)
    assert claim is not None
    end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0, now=now)
    Job.update(queue="x" + OSC52 + CLEAR).execute()
    db.close_database()
    result = run("stats")
    assert "\x1b" not in result.stdout, result.stdout
    assert "x␛]52;c;cm0gLXJmIH4K␛\\␛[2J" in result.stdout


def test_completion_offers_no_name_holding_a_control_character(run, db_url):
    """A tampered queue name holding a newline came out as two bogus candidates."""
    import os

    from tests.cli.test_observe import _complete

    db.open_database(db_url)
    enqueuing.enqueue(JobSpec(command="true", id="plain", queue="qa"), now=T0, cwd="/")
    enqueuing.enqueue(JobSpec(command="true", id="bent", queue="qb"), now=T0, cwd="/")
    Job.update(queue="qb\nqc" + CLEAR).where(Job.id == "bent").execute()
    db.close_database()
    env = {**os.environ, "QUEUECTL_DB": db_url}
    assert _complete("queuectl list --queue q", env) == ["qa"]


def test_completion_offers_no_id_a_shell_would_read_as_syntax(run, db_url):
    """bash puts a candidate on the command line unquoted: a tampered id
    ``deploy-43;touch /tmp/pwned`` completed ``show dep`` and ran the ``touch`` once
    the line was entered; ``$(…)``, spaces and globs passed the same way."""
    import os

    from tests.cli.test_observe import _complete

    db.open_database(db_url)
    for job_id in ("deploy-42", "deploy-43", "deploy-44", "deploy-45"):
        enqueuing.enqueue(JobSpec(command="true", id=job_id, queue="ops"), now=T0, cwd="/")
    bent = {"deploy-43": "deploy-43;touch /tmp/pwned", "deploy-44": "deploy-$(id)"}
    bent["deploy-45"] = "deploy-/*/*"
    for job_id, stored in bent.items():
        Job.update(id=stored).where(Job.id == job_id).execute()
    Job.update(queue="ops x;id").where(Job.id == "deploy-42").execute()
    db.close_database()
    env = {**os.environ, "QUEUECTL_DB": db_url}
    assert _complete("queuectl show dep", env) == ["deploy-42"]
    assert _complete("queuectl list --queue op", env) == ["ops"]


def test_a_row_past_the_clis_limits_is_shown_cut_not_wrapped_for_seconds(run, db_url):
    """A 34 MB command written straight to the database made ``show`` take 31 s (and
    the dashboard's detail freeze for minutes) while Rich wrapped it."""
    from queuectl.textsafe import LONGEST_FIELD

    db.open_database(db_url)
    enqueuing.enqueue(JobSpec(command="true", id="huge"), now=T0, cwd="/")
    command = "echo " + "ab c" * 1_000_000
    Job.update(command=command, last_error="x" * 3_000_000).where(Job.id == "huge").execute()
    db.close_database()
    shown = run("show", "huge").stdout
    assert f"… [{len(command) - LONGEST_FIELD:,} more characters not shown]" in shown
    assert f"… [{3_000_000 - LONGEST_FIELD:,} more characters not shown]" in shown
    assert len(shown) < 3 * LONGEST_FIELD
    stored = run("show", "huge", "--json").stdout
    assert command in stored  # --json gives the row as stored
    Job.update(state="dead").where(Job.id == "huge").execute()
    db.close_database()
    # The DLQ's table printed every 3 MB error whole (~1 MB a row of 40 an attacker wrote).
    listed = run("dlq", "list").stdout
    assert f"… [{3_000_000 - LONGEST_FIELD:,} more characters not shown]" in listed
    assert f"… [{len(command) - LONGEST_FIELD:,} more characters not shown]" in listed
    assert len(listed) < 4 * LONGEST_FIELD  # its header padded to the error, then the row
    # And the tables read them cut (the database says how long they are): 40 such rows
    # made ``dlq list`` read 320 MB and take 34 s.
    from queuectl.lifecycle import reads

    db.open_database(db_url)
    (row,) = reads.list_jobs(with_output=False, text_limit=LONGEST_FIELD + 1)
    assert (len(row.command), row.command_length) == (LONGEST_FIELD + 1, len(command))
    assert (len(row.last_error), row.last_error_length) == (LONGEST_FIELD + 1, 3_000_000)


def test_a_job_numbered_at_the_64_bit_maximum_leaves_room_below_for_new_ones(run, db_url):
    """A ``seq`` written at 2**63 - 1 failed every enqueue after it: a traceback on SQLite
    (OverflowError), "bigint out of range" on PostgreSQL. New jobs are numbered below the
    lowest (seq only breaks ties); a store whose numbers fill the whole range says so."""
    top = 2**63 - 1
    run("add", "--id", "top", "--", "true")
    db.open_database(db_url)
    Job.update(seq=top).where(Job.id == "top").execute()
    db.close_database()
    assert run("add", "--id", "next", "--", "true").stdout == "next\n"
    assert run("enqueue", "-", input='{"command": "a"}\n{"command": "b"}\n').exit_code == 0
    db.open_database(db_url)
    seqs = sorted(Job.select(Job.seq).tuples())
    assert [seq for (seq,) in seqs] == [top - 3, top - 2, top - 1, top]
    Job.update(seq=-top).where(Job.id == "next").execute()
    db.close_database()
    full = run("add", "--", "true", ok=False)
    assert full.exit_code == 1
    assert full.stderr == (
        "Error: cannot number 1 new job: the stored job numbers (seq) fill their range\n"
    )
