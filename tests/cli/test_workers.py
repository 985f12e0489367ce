"""status and worker list/prune: one notion of live, stopped and lost, and what nobody serves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from queuectl.hostid import this_host
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import settings
from queuectl.store import db
from queuectl.store.models import Worker
from tests.test_cli import enqueue

DEAD_PID = 2**22 + 12345  # above pid_max's default: no process has it


@pytest.fixture
def fleet(db_url) -> None:
    """Workers in every condition: live (two queues), stopped, lost (stored), and dead but
    not yet marked: one silent past its lease, one whose pid is gone on this host."""
    now = time.time()
    db.open_database(db_url)
    rows = [
        ("live", "elsewhere", 1, "busy", now, None, "default,mail"),
        ("stopped", "elsewhere", 2, "stopped", now - 86400 * 10, now - 86400 * 10, "default"),
        ("recent", "elsewhere", 3, "stopped", now - 60, now - 60, "default"),
        ("marked", "elsewhere", 4, "lost", now - 86400 * 9, now - 86400 * 9, "default"),
        ("silent", "elsewhere", 5, "idle", now - 3600, None, "default"),
        ("crashed", this_host(), DEAD_PID, "busy", now, None, "images"),
    ]
    for worker_id, host, pid, state, beat, stopped, queues in rows:
        Worker.create(
            id=worker_id,
            host=host,
            pid=pid,
            state=state,
            started_at=now - 86400 * 20,
            heartbeat_at=beat,
            stopped_at=stopped,
            queues=queues,
        )
    db.close_database()


def _states(records: list[dict]) -> dict[str, str]:
    return {record["id"]: record["state"] for record in records}


def test_status_text_and_json_list_the_same_live_workers(run, fleet):
    data = json.loads(run("status", "--json").stdout)
    assert _states(data["workers"]) == {"live": "busy"}
    text = run("status").stdout
    assert "Workers (1 running)" in text and "live" in text and "stopped" not in text
    assert "3 lost workers (died without stopping)" in text


def test_all_adds_the_stopped_and_the_lost(run, fleet):
    expected = {
        "live": "busy",
        "stopped": "stopped",
        "recent": "stopped",
        "marked": "lost",
        "silent": "lost",  # past its lease
        "crashed": "lost",  # its pid is gone, on this host: no need to wait for the lease
    }
    assert _states(json.loads(run("status", "--all", "--json").stdout)["workers"]) == expected
    assert _states(json.loads(run("worker", "list", "--all", "--json").stdout)) == expected
    text = run("status", "--all").stdout
    assert "Workers (1 running, 5 stopped or lost)" in text
    listed = run("worker", "list", "--all").stdout
    assert listed.splitlines()[0].split() == [
        "ID",
        "PID",
        "HOST",
        "QUEUES",
        "STATE",
        "JOB",
        "SLOTS",
        "HEARTBEAT",
        "DONE",
        "FAILED",
    ]
    assert "default,mail" in listed


def test_prune_removes_ended_workers_older_than_asked(run, db_url, fleet):
    run("config", "set", "lease_seconds", "2")  # "silent" is heard out for 1 s, not 10
    result = run("worker", "prune", "--older-than", "7d", "--json")
    assert result.stderr == (
        "1 worker silent past the lease (silent): waiting up to 1s for a heartbeat, in case"
        " the database has just come back\n"
    )
    pruned = json.loads(result.stdout)
    assert sorted(w["id"] for w in pruned) == ["marked", "stopped"]
    assert [w["slots_busy"] for w in pruned] == [0, 0]  # as worker stop --json says them
    # "silent" and "crashed" were dead but unmarked: recovery marks them lost first,
    # now, so they are too recent for --older-than 7d; a plain prune takes them.
    assert run("worker", "prune").stdout == "pruned 3 workers\n"
    assert _states(json.loads(run("worker", "list", "--all", "--json").stdout)) == {"live": "busy"}


def test_status_warns_about_jobs_no_live_worker_serves(run, fleet):
    enqueue(run, queue="mail")
    enqueue(run, queue="images")
    enqueue(run, queue="images")
    result = run("status")
    assert result.stderr == (
        "Warning: 2 jobs wait in queue 'images', which no live worker serves"
        " (start one: queuectl worker start --queue images)\n"
    )
    assert json.loads(run("status", "--json").stdout)["unserved_queues"] == {"images": 2}


def test_status_warns_once_of_many_queues_no_live_worker_serves(run, fleet):
    """Fifteen queues made fifteen warnings, each with its own hint."""
    for number in range(5):
        for _ in range(number + 1):
            enqueue(run, queue=f"q{number}")
    run("queue", "pause", "q0")
    assert run("status").stderr == (
        "Warning: 15 jobs wait in 5 queues no live worker serves: q4, q3, q2 and 2 more;"
        " 1 of them paused (start one: queuectl worker start --queue NAME,…; --json lists"
        " them all)\n"
    )
    unserved = json.loads(run("status", "--json").stdout)["unserved_queues"]
    assert unserved == {"q0": 1, "q1": 2, "q2": 3, "q3": 4, "q4": 5}


HOSTILE_QUEUE = "reports;touch${IFS}/tmp/queuectl-pwned"
"""A queue name a row's writer chose, to make a suggested command run another."""


def _a_job_in_a_hostile_queue(run, db_url) -> str:
    from queuectl.store.models import Job

    job_id = enqueue(run, queue="reports")
    db.open_database(db_url)
    Job.update(queue=HOSTILE_QUEUE).where(Job.id == job_id).execute()
    db.close_database()
    return job_id


def test_a_suggested_command_quotes_a_hostile_queue_name(run, db_url, fleet):
    """Pasting status's or wait's "start one: queuectl worker start --queue X" ran the
    ``touch`` a row's queue held: the name was made inert, not quoted for a shell."""
    job_id = _a_job_in_a_hostile_queue(run, db_url)
    quoted = "'reports;touch${IFS}/tmp/queuectl-pwned'"
    warned = run("status").stderr
    assert f"queuectl worker start --queue {quoted})" in warned, warned
    waited = run("wait", job_id, "--timeout", "0.1s", ok=False).stderr
    assert f"queuectl worker start --queue {quoted}" in waited, waited


def test_a_suggested_command_names_a_queue_with_control_characters_as_it_is(run, db_url):
    """A name with a tab, a newline or an escape was pasted in its display form (``⏎``,
    ``␛``), quoted: a queue that does not exist. It is written in ``$'…'`` quoting now,
    inert on the screen, and bash reads it back as the name itself."""
    from queuectl.store.models import Job

    job_id = enqueue(run, queue="reports")
    name = "re\tports\n\x1b[31mred\u202e"
    db.open_database(db_url)
    Job.update(queue=name).where(Job.id == job_id).execute()
    db.close_database()
    waited = run("wait", job_id, "--timeout", "0.1s", ok=False).stderr
    word = "$'re\\x09ports\\x0a\\x1b[31mred\\u202e'"
    assert f"queuectl worker start --queue {word}" in waited, waited
    assert "\x1b" not in waited and "\t" not in waited.replace("\n", "")
    said = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    assert said.stdout.decode() == name


def test_with_no_worker_at_all_status_says_which_queues_wait(run):
    enqueue(run, queue="mail")
    enqueue(run)
    result = run("status")
    assert result.stderr == ""
    assert (
        "no workers running; 2 jobs wait; start some with:"
        " queuectl worker start --queue default,mail"
    ) in result.stdout


def test_status_says_a_queue_waiting_for_workers_is_paused_too(run, fleet):
    """Workers started as status said would not have run a paused queue's jobs either."""
    enqueue(run, queue="images")
    run("queue", "pause", "images")
    assert run("status").stderr == (
        "Warning: 1 job waits in queue 'images', which no live worker serves (start one:"
        " queuectl worker start --queue images; it is paused too: queuectl queue resume images)\n"
    )


def test_with_no_worker_at_all_status_says_which_waiting_queues_are_paused(run):
    enqueue(run, queue="mail")
    enqueue(run, queue="nightly")
    run("queue", "pause", "nightly")
    assert (
        "no workers running; 2 jobs wait; start some with: queuectl worker start --queue"
        " mail,nightly; paused, so resume too: queuectl queue resume nightly"
    ) in run("status").stdout


def test_worker_commands_take_queue_names_and_timeouts_as_the_rest_of_the_cli(run):
    """A worker for "a b" served a queue no job can be put in; ``--timeout 5s`` was
    refused where ``wait`` and ``queue pause --wait`` take it."""
    for args in (("worker", "start", "--queue", "a b"), ("worker", "run", "--queue", "ok,a b")):
        result = run(*args, ok=False)
        assert result.exit_code == 2
        assert "a queue name must be 1-64 characters" in result.stderr
    stopped = run("worker", "stop", "--timeout", "5s")
    assert (stopped.stdout, stopped.stderr) == ("", "no workers running\n")
    result = run("worker", "stop", "--timeout", "soon", ok=False)
    assert result.exit_code == 2 and "--timeout must be a number of seconds" in result.stderr


def test_worker_stop_of_an_unknown_worker_still_prints_a_json_list(run, fleet):
    """``cancel nope --json`` prints ``[]`` with its error; ``worker stop nope --json``
    printed nothing, so a script's JSON parse failed before it could read the exit code."""
    result = run("worker", "stop", "nope", "--json", ok=False)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == []
    assert result.stderr == "Error: no running worker with id or pid 'nope'\n"
    assert run("worker", "list", "--json").stdout.count('"id": "live"') == 1  # nothing asked


def test_worker_stop_says_each_unknown_id_and_stops_the_others(run, fleet):
    """One unknown id among several stopped none, and named only the first of them: the
    live worker asked for ran on. As every command given ids: an Error line each, and the
    rest stopped."""
    started = time.monotonic()
    result = run("worker", "stop", "crashed", "nope", "gone", "--timeout", "1s", ok=False)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "Error: no running worker with id or pid 'nope'",
        "Error: no running worker with id or pid 'gone'",
    ]
    assert time.monotonic() - started < 5
    assert result.stdout.startswith("worker crashed was lost"), result.stdout
    workers = {row["id"]: row for row in json.loads(run("worker", "list", "-a", "--json").stdout)}
    assert workers["crashed"]["state"] == "lost" and workers["live"]["state"] == "busy"


def test_worker_stop_all_is_every_worker_and_refused_beside_ids(run, db_url):
    """``worker stop --all`` was an unknown option, where retry, cancel and delete
    take it: a script that said it got exit 2 and stopped nothing."""
    assert run("worker", "stop", "--all").stderr == "no workers running\n"
    assert json.loads(run("worker", "stop", "-a", "--json").stdout) == []
    refused = run("worker", "stop", "--all", "w1", ok=False)
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr == "Error: give worker IDs or --all, not both\n"


def test_stop_whose_time_is_up_before_a_silent_worker_could_answer_recovers_nothing(run, db_url):
    """As the database comes back a live worker's heartbeat is an outage old: a stop with
    too short a timeout to hear it out leaves it and its job alone, and says so."""
    db.open_database(db_url)
    then = time.time() - 60
    Worker.create(
        id="back", host="elsewhere", pid=1, state="busy", started_at=then, heartbeat_at=then
    )
    settings.set_value("lease_seconds", 8.0)
    job_id = enqueuing.enqueue(JobSpec(command="sleep 100"), now=then, cwd="/tmp").id
    assert claiming.claim("back", ("default",), host="elsewhere", now=then) is not None
    db.close_database()
    result = run("worker", "stop", "back", "--timeout", "0.3s", ok=False)
    assert result.exit_code == 1
    waits, said, error = result.stderr.splitlines()
    assert waits == (
        "waiting for 1 worker to finish the running jobs, up to 0.3s"
        " (Ctrl+C stops the wait; the stop stays asked)"
    )
    # Up to what is left of the 0.3 s once the stop was asked: 0.2 s on a loaded machine.
    assert re.fullmatch(
        r"1 worker silent past the lease \(back\): waiting up to 0\.[1-3]\d?s for a heartbeat,"
        r" in case the database has just come back",
        said,
    )
    assert error == "Error: still running after 0.3s: back; use --force to kill their jobs"
    shown = json.loads(run("show", job_id, "--json").stdout)
    assert (shown["state"], shown["worker_id"]) == ("processing", "back")


def test_stopping_a_dead_worker_that_held_no_job_says_none_was_recovered(run, db_url):
    """ "its job was recovered" was said of a row that held none."""
    db.open_database(db_url)
    now = time.time()
    Worker.create(
        id="gone", host=this_host(), pid=DEAD_PID, state="idle", started_at=now, heartbeat_at=now
    )
    db.close_database()
    result = run("worker", "stop", "gone", "--timeout", "2s")
    assert result.stdout == (
        "worker gone was lost (no process of this database runs it: it died, this is a copy,"
        " or the row names another database's)\n"
    )


def test_at_80_columns_worker_list_keeps_the_id_whole():
    """Rich's squeeze showed ids as ``wk…`` at 80 columns, beside long queue names:
    the id is what ``worker stop`` takes."""
    from rich.console import Console

    from queuectl.cli.render import workers_table
    from queuectl.store.models import Worker

    worker = Worker(
        id="wk3m9x2a",
        pid=4242,
        host="build-server-01",
        queues="a-rather-long-queue-name,default,another-long-queue-name",
        state="busy",
        current_job="job-0123456789",
        slots=1,
        heartbeat_at=time.time(),
        jobs_done=12,
        jobs_failed=1,
    )
    out = Console(width=80, record=True, color_system=None)
    out.print(workers_table([worker], width=80))
    header, row = out.export_text().splitlines()
    assert max(len(header), len(row)) <= 80
    assert row.split()[0] == "wk3m9x2a" and "busy" in row.split()
    assert header.split()[:2] == ["ID", "PID"] and "STATE" in header


def _stranded(db_url: str, *, live_too: bool = False) -> str:
    """A job running on worker "crashed", whose pid is gone on this host (every worker
    killed, a reboot); with ``live_too`` a live worker elsewhere, which would recover it."""
    now = time.time()
    db.open_database(db_url)
    rows = [("crashed", this_host(), DEAD_PID, now)]
    if live_too:
        rows.append(("live", "elsewhere", 1, now))
    for worker_id, host, pid, beat in rows:
        Worker.create(
            id=worker_id,
            host=host,
            pid=pid,
            state="busy",
            started_at=now - 60,
            heartbeat_at=beat,
            queues="default",
        )
    enqueuing.enqueue(JobSpec(command="sleep 100", id="orphan"))
    assert claiming.claim("crashed", host=this_host()).job.id == "orphan"
    db.close_database()
    return "orphan"


STRANDED = (
    "waiting: job orphan was running on worker crashed, which is lost, and no worker is"
    " running to recover it: start one with queuectl worker start\n"
)


def test_wait_says_a_job_is_stranded_on_a_lost_worker_with_none_left(run, db_url):
    """A pueue user's reboot: every worker killed, ``wait`` sat silent until its timeout
    and ``logs --follow`` showed the output stop; only ``status`` counted lost workers."""
    job_id = _stranded(db_url)
    result = run("wait", job_id, "--timeout", "0.2", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith(STRANDED)
    assert result.stderr.endswith("not finished: orphan (processing)\n")
    follow = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "logs", job_id, "--follow"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:  # its first look is at once; the line is read as it comes (pytest's timeout bounds it)
        assert follow.stderr is not None and follow.stderr.readline() == STRANDED
    finally:
        follow.kill()
        follow.wait()
    # ``worker prune`` recovers it first, and now says so (it said "pruned 1 worker").
    pruned = run("worker", "prune")
    assert pruned.stdout == "pruned 1 worker\n"
    assert pruned.stderr == "recovered 1 job of lost workers first: orphan (failed)\n"


def test_a_live_worker_left_recovers_it_so_wait_says_nothing_of_it(run, db_url):
    job_id = _stranded(db_url, live_too=True)
    result = run("wait", job_id, "--timeout", "0.2", ok=False)
    assert "lost" not in result.stderr
    assert result.stderr.endswith("not finished: orphan (processing)\n")
