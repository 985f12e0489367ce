"""stats, metrics, status figures, wait and completion: figures from known runs, both backends."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from queuectl.cli import exposition
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import stats
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run, RunOutcome, Worker
from tests.conftest import end_attempt
from tests.polling import wait_until
from tests.test_cli import enqueue

T = 1_795_000_000.0


def _played(location: str) -> None:
    """Known history: default: durations 1..10 s, each waited 2 s; images: a job that
    failed once then died, a cancelled one (counted nowhere)."""
    db.open_database(location)
    for index in range(1, 11):
        job_id = f"ok{index}"
        Job.update(run_at=T).where(Job.id == job_id).execute()
        claim = claiming.claim("w1", host="test", now=T + 2)
        assert claim is not None and claim.job.id == job_id
        end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0, now=T + 2 + index)
    for attempt_at in (T + 20, T + 40):
        Job.update(run_at=attempt_at - 1).where(Job.id == "bad").execute()
        claim = claiming.claim("w1", ["images"], host="test", now=attempt_at)
        assert claim is not None and claim.job.id == "bad"
        end_attempt(claim, RunOutcome.FAILED, exit_code=3, now=attempt_at + 0.5)
    db.close_database()


@pytest.fixture
def history(run, db_url):
    for index in range(1, 11):
        enqueue(run, id=f"ok{index}")
    enqueue(run, id="bad", queue="images", max_retries=1)
    enqueue(run, id="stop", queue="images")
    run("cancel", "stop")
    _played(db_url)
    return run


def test_stats_per_queue_and_total_in_sql(history, db_url):
    db.open_database(db_url)
    figures = stats.window_stats(T, now=T + 60)
    db.close_database()
    default, images = figures.queues
    assert (default.queue, default.finished, default.completed, default.dead) == (
        "default",
        10,
        10,
        0,
    )
    assert (default.duration_p50, default.duration_p95, default.duration_max) == (5, 10, 10)
    assert (default.wait_p50, default.wait_p95) == (2, 2)
    assert default.success_rate == 1.0 and default.per_minute == 10.0
    assert (images.finished, images.completed, images.failed_attempts, images.dead) == (1, 0, 2, 1)
    assert images.success_rate == 0.0 and images.wait_p50 == 1.0
    total = figures.total
    assert (total.queue, total.finished, total.completed, total.failed_attempts) == (
        None,
        11,
        10,
        2,
    )
    assert total.success_rate == pytest.approx(10 / 11)
    assert total.duration_max == 10 and total.duration_p50 == 4  # 12 values: 0.5 0.5 1..10


def test_stats_command_json_text_queue_and_window(history):
    # The runs happened at T (2026-11-18): a 1h window ending now holds none of them.
    empty = json.loads(history("stats", "--json").stdout)
    assert empty["total"]["finished"] == 0 and empty["queues"] == []
    assert empty["total"]["success_rate"] is None
    since = f"{int(time.time() - T + 3600)}s"
    data = json.loads(history("stats", "--since", since, "--json").stdout)
    assert set(data) == {"since", "total", "queues"}
    assert [row["queue"] for row in data["queues"]] == ["default", "images"]
    assert set(data["queues"][0]) == {
        "queue",
        "finished",
        "completed",
        "failed_attempts",
        "dead",
        "per_minute",
        "success_rate",
        "duration_p50",
        "duration_p95",
        "duration_max",
        "wait_p50",
        "wait_p95",
    }
    assert data["total"]["dead"] == 1 and data["total"]["completed"] == 10
    only = json.loads(history("stats", "--since", since, "--queue", "images", "--json").stdout)
    assert [row["queue"] for row in only["queues"]] == ["images"]
    assert only["total"]["failed_attempts"] == 2
    text = history("stats", "--since", since).stdout
    assert "default" in text and "images" in text and "total" in text and "90.9" in text
    everything = json.loads(history("stats", "--since", "30000d", "--json").stdout)
    assert everything["since"] == "1970-01-01T00:00:00.000Z"  # it said null: before 1970
    counted = ("finished", "completed", "failed_attempts", "dead")
    assert [everything["total"][key] for key in counted] == [data["total"][key] for key in counted]
    # A dozen jobs over the years since 1970 is a rate too: it read 0.0 at three decimals.
    assert 0 < everything["total"]["per_minute"] < 0.001
    for bad in ("5 s", "0s", "-1h", "soon"):
        result = history("stats", "--since", bad, ok=False)
        assert result.exit_code == 2 and "--since" in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_metrics_parse_as_prometheus_text(history):
    since = f"{int(time.time() - T + 3600)}s"
    text = history("metrics", "--since", since).stdout
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert all(name.startswith("queuectl_") for name in families)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert samples[("queuectl_jobs", (("queue", "default"), ("state", "completed")))] == 10
    assert samples[("queuectl_jobs", (("queue", "images"), ("state", "cancelled")))] == 1
    assert samples[("queuectl_dead_jobs", (("queue", "images"),))] == 1
    assert samples[("queuectl_completed_jobs", (("queue", "default"),))] == 10
    key = ("queuectl_job_duration_seconds", (("quantile", "0.95"), ("queue", "default")))
    assert samples[key] == 10
    assert ("queuectl_workers", (("state", "idle"),)) in samples


def test_a_queue_with_no_run_in_the_window_counts_0_so_a_stall_alert_can_fire(run):
    """Its counts were absent, not 0: ``throughput == 0 and pending > 0`` never fired on the
    queue that had stopped moving. A ratio of nothing stays absent."""
    run("queue", "pause", "stuck")
    enqueue(run, id="waits", queue="stuck")
    text = run("metrics").stdout
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    stuck = (("queue", "stuck"),)
    for name in (
        "queuectl_finished_jobs",
        "queuectl_completed_jobs",
        "queuectl_failed_attempts",
        "queuectl_dead_jobs",
        "queuectl_throughput_per_minute",
    ):
        assert samples[(name, stuck)] == 0, name
    assert ("queuectl_success_ratio", stuck) not in samples
    assert samples[("queuectl_jobs", (("queue", "stuck"), ("state", "pending")))] == 1
    # Paused on purpose, it says so: the alert can leave it out (it fired on it).
    assert samples[("queuectl_queue_paused", stuck)] == 1


def test_metrics_count_the_live_workers_slots_busy_and_idle(run, db_url):
    """``queuectl_workers{state="busy"}`` counts processes: a worker of 4 slots running
    one job read as busy as one running four, and capacity could not be computed."""
    now = time.time()
    db.open_database(db_url)
    for worker_id, slots, beat in (("w4", 4, now), ("gone", 8, now - 86400)):
        Worker.create(
            id=worker_id,
            pid=1,
            host="elsewhere",
            state="busy",
            slots=slots,
            started_at=now - 60,
            heartbeat_at=beat,
        )
    db.close_database()
    enqueue(run, id="one")
    db.open_database(db_url)
    assert claiming.claim("w4", host="elsewhere").job.id == "one"
    db.close_database()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(run("metrics").stdout)
        for sample in family.samples
    }
    assert samples[("queuectl_worker_slots", (("state", "busy"),))] == 1
    assert samples[("queuectl_worker_slots", (("state", "idle"),))] == 3  # not the lost one's


def test_dependents_taken_down_count_as_dead_in_stats_metrics_status_and_the_chart(run, db_url):
    """A death takes its blocked dependents into the DLQ, where ``dlq list`` and
    ``queuectl_jobs{state="dead"}`` counted them; ``stats`` and ``queuectl_dead_jobs``
    counted only the job that ran, so an alert on deaths missed every cascade."""
    enqueue(run, id="root", queue="etl", max_retries=0)
    enqueue(run, id="load", queue="etl", after="root")
    enqueue(run, id="report", queue="reports", after="load")  # a queue with no run at all
    db.open_database(db_url)
    Job.update(run_at=T).where(Job.id == "root").execute()
    claim = claiming.claim("w1", ["etl"], host="test", now=T + 1)
    end_attempt(claim, RunOutcome.FAILED, exit_code=1, now=T + 2)
    assert {job.id for job in Job.select().where(Job.state == JobState.DEAD)} == {
        "root",
        "load",
        "report",
    }
    figures = stats.window_stats(T, now=T + 60)
    by_queue = {row.queue: (row.finished, row.dead, row.failed_attempts) for row in figures.queues}
    assert by_queue == {"etl": (2, 2, 1), "reports": (1, 1, 0)}
    assert (figures.total.dead, figures.total.finished, figures.total.success_rate) == (3, 3, 0.0)
    only = stats.window_stats(T, queue="reports", now=T + 60)
    assert [(row.queue, row.dead) for row in only.queues] == [("reports", 1)]
    assert stats.finished_series(T, T + 60, 6) == {
        "etl": [2, 0, 0, 0, 0, 0],
        "reports": [1] + [0] * 5,
    }
    assert stats.recent(now=T + 60).per_minute == pytest.approx(3 / 5)
    db.close_database()
    since = f"{int(time.time() - T + 3600)}s"
    text = run("metrics", "--since", since).stdout
    dead = {
        sample.labels["queue"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "queuectl_dead_jobs"
    }
    assert dead == {"etl": 2, "reports": 1}


def test_metrics_serve_refuses_remote_and_answers_scrapes(history, db_url):
    refused = history("metrics", "--serve", "0.0.0.0:9108", ok=False)
    assert refused.exit_code == 2 and "--allow-remote" in refused.stderr
    bad = history("metrics", "--serve", "9108", ok=False)
    assert bad.exit_code == 2 and "HOST:PORT" in bad.stderr
    env = {**os.environ, "QUEUECTL_DB": db_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "metrics", "--serve", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert "queuectl_jobs{" in body
        head = urllib.request.Request(url, method="HEAD")  # curl -I; it was 405
        with urllib.request.urlopen(head, timeout=10) as response:
            assert response.status == 200 and response.read() == b""
            assert 0 < int(response.headers["Content-Length"]) < len(body) * 2
        rebound = urllib.request.Request(url, headers={"Host": "evil.example:80"})
        with pytest.raises(urllib.error.HTTPError) as refused_host:
            urllib.request.urlopen(rebound, timeout=10)
        assert refused_host.value.code == 403
        server.send_signal(signal.SIGINT)  # Ctrl+C: 130, as every command (it exited 0)
        _, err = server.communicate(timeout=10)
        assert server.returncode == 130 and "Traceback" not in err, err
    finally:
        server.kill()
        server.wait(10)


def test_status_shows_average_duration_and_recent_throughput(run, db_url):
    enqueue(run, id="a")
    enqueue(run, id="dies", max_retries=1)  # a failed attempt, then a dead one
    db.open_database(db_url)
    claim = claiming.claim("w1", host="test")
    end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0)
    Run.update(duration=2.5).execute()
    for _ in range(2):
        Job.update(run_at=0).where(Job.id == "dies").execute()  # its backoff, over
        end_attempt(claiming.claim("w1", host="test"), RunOutcome.FAILED, exit_code=1)
    assert Job.get_by_id("dies").state == JobState.DEAD
    db.close_database()
    data = json.loads(run("status", "--json").stdout)
    # Finished: the success and the death, not the failed attempt that was retried.
    assert data["average_duration"] == 2.5 and data["per_minute"] == 0.4
    text = run("status").stdout
    assert "Average duration  2.5s" in text and "0.4 jobs/min" in text


def _finish(location: str, outcome: RunOutcome) -> None:
    db.open_database(location)
    claim = claiming.claim("w9", host="test")
    end_attempt(claim, outcome, exit_code=0 if outcome is RunOutcome.SUCCEEDED else 1)
    db.close_database()


def test_wait_exit_codes_and_states(run, db_url):
    enqueue(run, id="one")
    enqueue(run, id="two", max_retries=0)
    _finish(db_url, RunOutcome.SUCCEEDED)
    done = run("wait", "one")
    assert done.stdout == "one completed\n"
    _finish(db_url, RunOutcome.FAILED)
    both = run("wait", "one", "two", ok=False)
    assert both.exit_code == 1 and "two dead" in both.stdout and "ended dead" in both.stderr
    # With each job's last exit code, for a script to branch on (pueue's users do).
    data = json.loads(run("wait", "one", "two", "--json", ok=False).stdout)
    assert data == [
        {"id": "one", "state": "completed", "exit_code": 0},
        {"id": "two", "state": "dead", "exit_code": 1},
    ]
    missing = run("wait", "one", "nope", ok=False)
    assert missing.exit_code == 1 and "no job with id 'nope'" in missing.stderr
    usage = run("wait", ok=False)
    assert usage.exit_code == 2


def test_wait_for_a_queue_with_nothing_unfinished_says_so(run):
    """``wait --queue imgaes`` (a typo) printed nothing and exited 0, as if every job of
    the queue had completed; it still exits 0, but says there was nothing to wait for."""
    enqueue(run, id="img", queue="images")
    typo = run("wait", "--queue", "imgaes", "--json")
    assert (typo.stdout, typo.stderr) == ("[]\n", "no unfinished jobs in queue 'imgaes'\n")
    run("cancel", "img")
    empty = run("wait", "--all")
    assert (empty.stdout, empty.stderr) == ("", "no unfinished jobs\n")


def test_wait_times_out_naming_what_is_left_and_wakes_on_a_commit(run, db_url):
    enqueue(run, id="slow")
    started = time.monotonic()
    late = run("wait", "--all", "--timeout", "300ms", ok=False)
    assert late.exit_code == 1 and "slow (pending)" in late.stderr
    assert 0.25 < time.monotonic() - started < 5
    finisher = threading.Timer(0.3, _finish, (db_url, RunOutcome.SUCCEEDED))
    finisher.start()
    try:
        result = run("wait", "--queue", "default", "--timeout", "20s")
    finally:
        finisher.join()
    assert result.stdout == "slow completed\n"


def _job_states_away(monkeypatch, away: range, reason: str, on_look=None) -> None:
    """``reads.job_states`` failing as a database away does, on the looks in ``away``
    (the first look, before the loop, is look 1); ``on_look(n)`` runs before each."""
    from queuectl.errors import StoreUnavailable
    from queuectl.lifecycle import reads

    real, looks = reads.job_states, itertools.count(1)

    def looking(job_ids):
        look = next(looks)
        if on_look is not None:
            on_look(look)
        if look in away:
            raise StoreUnavailable(reason)
        return real(job_ids)

    monkeypatch.setattr(reads, "job_states", looking)


def test_wait_rides_out_a_database_outage(run, db_url, monkeypatch):
    """A PostgreSQL restart while ``wait`` waited ended it with exit 1 (``database error:
    … server closed the connection``), which says a job failed, while the job went on
    to complete. It now says the database is away once, looks again, and goes on."""
    enqueue(run, id="slow")

    def the_job_ends_while_away(look: int) -> None:
        if look == 2:
            _finish(db_url, RunOutcome.SUCCEEDED)

    _job_states_away(
        monkeypatch,
        range(2, 5),
        "server closed the connection unexpectedly",
        on_look=the_job_ends_while_away,
    )
    result = run("wait", "slow", "--timeout", "20s")
    assert result.stdout == "slow completed\n"
    lines = [line for line in result.stderr.splitlines() if not line.startswith("waiting: ")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("wait: database unavailable (server closed the connection")
    assert lines[1].startswith("wait: database back after ")


def test_wait_rides_out_an_outage_its_waiter_meets_first(run, db_url, monkeypatch):
    """SQLite files made read-only (``chattr +i``) failed the waiter's look at
    ``data_version`` before the states were read: ``wait`` exited 1 while ``logs
    --follow`` rode it out, and the job completed 9 s later."""
    from queuectl.cli import waiting
    from queuectl.errors import StoreUnavailable

    enqueue(run, id="slow")
    real = waiting._waiter
    tries = iter(range(1_000))

    class Failing:
        def wait(self, timeout, interrupted):
            if next(tries) < 2:
                raise StoreUnavailable("q.db-shm cannot be written (a read-only filesystem?)")
            _finish(db_url, RunOutcome.SUCCEEDED)
            return real().wait(0, interrupted)

        def close(self):
            pass

    monkeypatch.setattr(waiting, "_waiter", Failing)
    result = run("wait", "slow", "--timeout", "20s")
    assert result.stdout == "slow completed\n"
    lines = [line for line in result.stderr.splitlines() if not line.startswith("waiting: ")]
    assert lines[0].startswith("wait: database unavailable (q.db-shm cannot be written"), lines
    assert lines[1].startswith("wait: database back after "), lines


def test_wait_says_each_unknown_id_at_once_and_waits_for_the_others(run, db_url):
    """As every command given ids: one unknown id waited for none (``--json``: ``[]``) and
    named only the first of them, ``(and 1 more)``; a script waiting on ids after a purge
    could not tell how its other jobs ended."""
    enqueue(run, id="here")
    _finish(db_url, RunOutcome.SUCCEEDED)
    result = run("wait", "here", "nope", "gone", "--json", ok=False)
    assert result.exit_code == 1
    # Every id asked for, an unknown one with a null state: left out, a script could
    # tell it from the others only by parsing stderr (a script author's try).
    assert json.loads(result.stdout) == [
        {"id": "here", "state": "completed", "exit_code": 0},
        {"id": "nope", "state": None, "exit_code": None},
        {"id": "gone", "state": None, "exit_code": None},
    ]
    assert result.stderr == "Error: no job with id 'nope'\nError: no job with id 'gone'\n"
    text = run("wait", "nope", "here", ok=False)
    assert (text.exit_code, text.stdout) == (1, "here completed\n")
    assert text.stderr == "Error: no job with id 'nope'\n"
    none = run("wait", "nope", "--json", ok=False)
    assert (none.exit_code, json.loads(none.stdout)) == (
        1,
        [{"id": "nope", "state": None, "exit_code": None}],
    )


def test_a_job_deleted_while_waited_for_was_deleted_not_ended_deleted(run, monkeypatch):
    from queuectl.lifecycle import reads

    enqueue(run, id="gone")
    real, looks = reads.job_states, itertools.count(1)
    monkeypatch.setattr(reads, "job_states", lambda ids: real(ids) if next(looks) == 1 else {})
    result = run("wait", "gone", "--timeout", "10s", ok=False)
    assert result.stderr.strip().splitlines()[-1] == "Error: job gone was deleted"


def test_wait_gives_up_at_its_timeout_while_the_database_is_away(run, monkeypatch):
    enqueue(run, id="slow")
    _job_states_away(monkeypatch, range(2, 1_000_000), "connection refused")
    started = time.monotonic()
    late = run("wait", "slow", "--timeout", "1s", ok=False)
    assert late.exit_code == 1 and "timed out after 1s: not finished: slow (pending)" in late.stderr
    assert time.monotonic() - started < 5


def test_a_timed_out_wait_says_which_jobs_are_held_or_not_due_yet(run):
    """It said "hh (pending)" of a job held for good, as of one behind a busy queue."""
    run("add", "--id", "hh", "--", "true")
    run("hold", "hh")
    run("add", "--id", "later", "--delay", "10m", "--", "true")
    run("add", "--id", "plain", "--", "true")
    late = run("wait", "hh", "later", "plain", "--timeout", "0.2s", ok=False)
    assert late.exit_code == 1
    # First, once: which wait for a release, and that no worker will take the others
    # (it sat silent until the timeout).
    held_hint, hint, line = late.stderr.strip().splitlines()
    assert held_hint == "waiting: job hh is held: it waits until released (queuectl release hh)"
    assert hint == (
        "waiting: no worker serves queue 'default':"
        " start one with queuectl worker start --queue default"
    )
    assert line.startswith("Error: timed out after 0.2s: not finished: hh (pending, held), ")
    assert re.search(r"later \(pending, due in (9m5\ds|10m00s)\)", line), line  # 10m, less the wait
    assert line.endswith(", plain (pending)")
    # A held job alone waits for a release, not a worker: no "start one" for it, and
    # said at once (it sat silent until the timeout, or for ever without one).
    held = run("wait", "hh", "--timeout", "0.1s", ok=False)
    assert held.stderr.strip().splitlines() == [
        "waiting: job hh is held: it waits until released (queuectl release hh)",
        "Error: timed out after 0.1s: not finished: hh (pending, held)",
    ], held.stderr
    run("add", "--id", "hh2", "--after", "hh", "--", "true")
    run("hold", "hh2")
    both = run("wait", "hh", "hh2", "--timeout", "0.1s", ok=False)
    assert both.stderr.splitlines()[0] == (
        "waiting: jobs hh, hh2 are held: they wait until released (queuectl release hh hh2)"
    )
    # A paused queue's job waits for a resume: said so (it read "plain (pending)").
    run("queue", "pause", "default")
    paused = run("wait", "plain", "--timeout", "0.1s", ok=False)
    assert paused.stderr.strip().splitlines() == [
        # A worker started as it said ("start one") would not have taken it either.
        "waiting: queue 'default' paused: resume with queuectl queue resume default",
        "Error: timed out after 0.1s: not finished: plain (pending, queue 'default' paused)",
    ], paused.stderr
    # A blocked job says what it waits for, as list does (it read "child (blocked)").
    run("add", "--id", "child", "--after", "plain", "--", "true")
    blocked = run("wait", "child", "--timeout", "0.1s", ok=False)
    assert blocked.stderr.strip().endswith("not finished: child (blocked, after plain)")


def test_wait_ends_on_a_ctrl_c_swallowed_where_it_landed(run, monkeypatch):
    """A Ctrl+C raised inside an object's ``__del__`` is printed as "Exception ignored"
    and lost, and ``wait`` on a job no worker serves waited for ever (once in a CI run
    of ``test_ctrl_c_exits_130_without_a_message``). The loop looks at the signal too."""
    from queuectl.cli import common
    from queuectl.lifecycle import reads

    enqueue(run, id="stuck")
    real = reads.job_states

    def swallowed(job_ids):
        common._Interrupts.seen = True  # the handler ran; its exception went nowhere
        return real(job_ids)

    monkeypatch.setattr(reads, "job_states", swallowed)
    previous = signal.getsignal(signal.SIGINT)
    try:
        result = run("wait", "stuck", "--timeout", "20s", ok=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 130 and result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [("wait", "stuck", "--timeout", "5s"), ("logs", "--follow", "stuck")],
    ids=["wait", "logs-follow"],
)
def test_a_ctrl_c_swallowed_while_the_database_opens_still_ends_the_command(
    run, monkeypatch, command
):
    """The CI run of ``test_ctrl_c_exits_130_without_a_message`` that hung: the signal came
    once the database was open but before ``wait`` noted interrupts, was swallowed where
    it landed, and the noting then began from "none came"."""
    from queuectl.cli import common

    enqueue(run, id="stuck")
    real = common.AppContext.open

    def open_and_swallow(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl+C, at this moment
            time.sleep(0.2)  # the handler runs here; what it raises goes nowhere
        except KeyboardInterrupt:
            pass
        return result

    monkeypatch.setattr(common.AppContext, "open", open_and_swallow)
    previous = signal.getsignal(signal.SIGINT)
    try:
        result = run(*command, ok=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 130


def test_note_interrupts_raises_and_remembers():
    from queuectl.cli.common import note_interrupts

    previous = signal.getsignal(signal.SIGINT)
    try:
        interrupted = note_interrupts()
        assert not interrupted()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert interrupted()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_wait_and_completion_never_create_a_database(tmp_path, monkeypatch):
    location = tmp_path / "nothing" / "here.db"
    env = {**os.environ, "QUEUECTL_DB": str(location)}
    waited = subprocess.run(
        [sys.executable, "-m", "queuectl", "wait", "--all"], env=env, capture_output=True
    )
    assert waited.returncode == 0
    completed = subprocess.run(
        [sys.executable, "-m", "queuectl", "show", ""],
        env={
            **env,
            "_QUEUECTL_COMPLETE": "bash_complete",
            "COMP_WORDS": "queuectl show ",
            "COMP_CWORD": "2",
        },
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "" and not completed.stderr
    assert not location.parent.exists()


def _complete(words: str, env: dict[str, str]) -> list[str]:
    """What bash is offered for the line ``words``, typed up to the cursor at its end."""
    result = subprocess.run(
        [sys.executable, "-m", "queuectl"],
        env={
            **env,
            "_QUEUECTL_COMPLETE": "bash_complete",
            "COMP_LINE": words,
            "COMP_POINT": str(len(words)),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_of_ids_states_queues_and_keys(run, db_url):
    enqueue(run, id="build-1")
    enqueue(run, id="build-2", queue="images")
    enqueue(run, id="deploy")
    env = {**os.environ, "QUEUECTL_DB": db_url}
    assert _complete("queuectl show bu", env) == ["build-2", "build-1"]
    assert _complete("queuectl wait --queue im", env) == ["images"]
    assert _complete("queuectl list fa", env) == ["failed"]
    assert _complete("queuectl config set on_", env) == ["on_success", "on_failure"]
    for name in ("nightly", "nightly-db", "Night"):
        run("cron", "add", name, "@daily", '{"command": "true"}')
    assert _complete("queuectl cron show ni", env) == ["nightly", "nightly-db"]
    assert _complete("queuectl cron pause nightly-", env) == ["nightly-db"]
    assert _complete("queuectl cron add ni", env) == []  # a new name: nothing to offer
    # Queue commands complete queues, a paused one with no jobs too; --after, job ids.
    run("queue", "pause", "idle-queue")
    assert _complete("queuectl queue resume i", env) == ["idle-queue", "images"]
    assert _complete("queuectl queue limit im", env) == ["images"]
    assert _complete("queuectl add --after dep", env) == ["deploy"]
    # dlq retry offers the DLQ's jobs alone: any other id is refused there.
    enqueue(run, id="build-dead", max_retries=0)
    db.open_database(db_url)
    Job.update(state="dead").where(Job.id == "build-dead").execute()
    db.close_database()
    assert _complete("queuectl dlq retry bu", env) == ["build-dead"]
    # worker stop offers the running workers' ids (it offered nothing).
    db.open_database(db_url)
    now = time.time()
    for worker_id, state in (("w-run", "idle"), ("w-rest", "busy"), ("w-gone", "stopped")):
        Worker.insert(
            id=worker_id, pid=1, host="elsewhere", state=state, started_at=now, heartbeat_at=now
        ).execute()
    db.close_database()
    assert _complete("queuectl worker stop w-r", env) == ["w-rest", "w-run"]


def test_completion_of_words_holding_a_colon(run, db_url):
    """Bash splits words at ``:`` and ``=``: ``show deploy:4`` offered nothing (Tab beeped).
    Each completion is what follows the last break, which bash keeps."""
    for job_id in ("deploy:42", "deploy:43"):
        enqueue(run, id=job_id, queue="q.a:b-c_1")
    env = {**os.environ, "QUEUECTL_DB": db_url}
    assert _complete("queuectl show depl", env) == ["deploy:43", "deploy:42"]
    assert _complete("queuectl show deploy:", env) == ["43", "42"]
    assert _complete("queuectl show deploy:4", env) == ["43", "42"]
    assert _complete("queuectl list --queue q.a:", env) == ["b-c_1"]
    assert _complete("queuectl list --queue=q.a:", env) == ["b-c_1"]
    assert _complete("queuectl list --queue=q", env) == ["q.a:b-c_1"]
    # Quoted or escaped, bash keeps the word whole and replaces all of it.
    assert _complete("queuectl show 'deploy:4", env) == ["deploy:43", "deploy:42"]
    assert _complete("queuectl show deploy\\:4", env) == ["deploy:43", "deploy:42"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_print_and_bash_loads_them(run, shell):
    script = run("completion", shell).stdout
    assert "_QUEUECTL_COMPLETE" in script
    if shell == "bash":
        loaded = subprocess.run(
            ["bash", "-c", "source <(queuectl completion bash) && complete -p queuectl"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert loaded.returncode == 0, loaded.stderr
        assert "_queuectl_completion" in loaded.stdout


class _NoFigures(Collector):
    def collect(self):
        yield from ()


def _serve_beside(collector: Collector, client: Callable[[str, threading.Event], None]) -> float:
    """``metrics --serve``'s server in this (the main) thread, where signals land, while
    ``client(url, stopped)`` runs in another, until a Ctrl+C ends it; when it ended.
    ``stopped`` is set once it has (a client waiting on it may then let go)."""
    url: list[str] = []
    stopped = threading.Event()

    def run_client() -> None:
        wait_until(lambda: url, 10, "the server's address")
        client(url[0], stopped)

    helper = threading.Thread(target=run_client, daemon=True)
    previous = signal.getsignal(signal.SIGINT)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            exposition.serve(collector, ("127.0.0.1", 0), announce=url.append, warn=print)
        return time.monotonic()
    finally:
        stopped.set()
        helper.join(10)
        signal.signal(signal.SIGINT, previous)


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def test_a_ctrl_c_inside_a_scrape_still_stops_metrics_serve(capfd):
    """wsgiref answers an exception raised inside a request, KeyboardInterrupt included,
    with a traceback and a 500, and serves on: a Ctrl+C that landed inside a scrape was
    lost, and a test's SIGINT waited for ever (once, under load)."""

    class InterruptedScrape(Collector):
        def collect(self):
            signal.raise_signal(signal.SIGINT)  # Ctrl+C, landing here
            yield from ()

    def scrape_then_give_up(url: str, stopped: threading.Event) -> None:
        # A 500, or no answer at all: the server may close the connection as it stops
        # (RemoteDisconnected, a ConnectionError), which the thread raised as a warning.
        with contextlib.suppress(urllib.error.URLError, ConnectionError):
            urllib.request.urlopen(url, timeout=10)
        # The fix stops within half a second; a server that serves on is ended by a
        # second Ctrl+C, outside any scrape, so the test fails instead of hanging.
        if not stopped.wait(5):
            os.kill(os.getpid(), signal.SIGINT)

    started = time.monotonic()
    ended = _serve_beside(InterruptedScrape(), scrape_then_give_up)
    assert ended - started < 4, "served on after the Ctrl+C"
    assert "Traceback" not in capfd.readouterr().err


def test_a_ctrl_c_while_a_client_sits_idle_stops_metrics_serve_at_once(monkeypatch):
    """Noted and left for the server's next turn, a Ctrl+C waited while a client that
    had connected sent nothing (a browser's preconnect): the one-at-a-time server sat
    reading its request, for ever before connections had a timeout."""
    reading = threading.Event()
    handle = exposition._QuietHandler.handle

    def handle_noting_it(self: exposition._QuietHandler) -> None:
        reading.set()  # next: the server reads the request line, which never comes
        handle(self)

    monkeypatch.setattr(exposition._QuietHandler, "handle", handle_noting_it)
    sent: list[float] = []

    def connect_idle_then_interrupt(url: str, stopped: threading.Event) -> None:
        with socket.create_connection(("127.0.0.1", _port(url)), timeout=10):
            wait_until(reading.is_set, 10, "the server to read the request")
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
            stopped.wait(15)

    ended = _serve_beside(_NoFigures(), connect_idle_then_interrupt)
    assert ended - sent[0] < 2, "waited for the idle client"


def test_a_client_that_trickles_its_request_is_cut_off_and_scrapes_go_on(monkeypatch):
    """One byte every few seconds never tripped the idle timeout: one client held every
    scrape up for as long as it liked (a local attacker's try: 40 s and counting)."""
    monkeypatch.setattr(exposition, "REQUEST_SECONDS", 1.0)
    scraped: list[tuple[int, float]] = []

    def trickle_then_scrape(url: str, stopped: threading.Event) -> None:
        try:
            with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as slow:
                slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
                dripped = threading.Event()

                def drip() -> None:
                    with contextlib.suppress(OSError):
                        while not dripped.wait(0.2):
                            slow.sendall(b"a")

                dripping = threading.Thread(target=drip, daemon=True)
                dripping.start()
                started = time.monotonic()
                with urllib.request.urlopen(url, timeout=5) as response:
                    scraped.append((response.status, time.monotonic() - started))
                dripped.set()
                dripping.join()
        finally:  # whatever happened, the server stops (a failed scrape fails the test)
            os.kill(os.getpid(), signal.SIGINT)

    _serve_beside(_NoFigures(), trickle_then_scrape)
    [(status, waited)] = scraped
    assert status == 200 and waited < 3, waited


def test_text_counts_are_separated_as_the_dashboards_and_json_stays_plain(run, db_url, tmp_path):
    """status, stats and queue list printed ``12345`` where the dashboard's header says
    ``12,345``; scripts read --json, which keeps plain numbers."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "".join(
            json.dumps({"command": "true", "id": f"j{i}", "queue": "bulk"}) + "\n"
            for i in range(2500)
        )
    )
    run("enqueue", "--file", str(jobs))
    now = time.time()
    done = [f"j{i}" for i in range(1200)]
    db.open_database(db_url)
    Job.update(state=JobState.COMPLETED.value, finished_at=now).where(Job.id.in_(done)).execute()
    Run.insert_many(
        [
            {
                "job": job_id,
                "run": 1,
                "attempt": 1,
                "started_at": now - 1,
                "finished_at": now,
                "outcome": RunOutcome.SUCCEEDED.value,
                "exit_code": 0,
                "duration": 1.0,
            }
            for job_id in done
        ]
    ).execute()
    db.close_database()
    status = run("status").stdout
    assert re.search(r"^pending +1,300$", status, re.M) and re.search(
        r"^completed +1,200$", status, re.M
    )
    assert "no workers running; 1,300 jobs wait;" in status
    assert json.loads(run("status", "--json").stdout)["jobs"]["pending"] == 1300
    queues = run("queue", "list").stdout.splitlines()[1].split()
    assert queues[:6] == ["bulk", "active", "-", "1,300", "0", "0"] and queues[7] == "1,200"
    assert json.loads(run("queue", "list", "--json").stdout)[0]["counts"]["pending"] == 1300
    figures = run("stats").stdout.splitlines()[2].split()
    assert figures[:3] == ["bulk", "1,200", "1,200"]
    assert json.loads(run("stats", "--json").stdout)["total"]["finished"] == 1200


def test_stats_of_a_queue_no_job_is_in_says_so_on_stderr(run):
    """``stats --queue imgaes`` printed empty figures, as for a quiet queue, and a typo
    passed unseen (a script author's try); ``wait --queue`` already said so."""
    enqueue(run, queue="images")
    typo = run("stats", "--queue", "imgaes", "--json")
    assert json.loads(typo.stdout)["queues"] == []
    assert typo.stderr == "no job is in queue 'imgaes' (queues with jobs: images)\n"
    quiet = run("stats", "--queue", "images", "--json")  # jobs, none ended: no note
    assert quiet.stderr == ""
