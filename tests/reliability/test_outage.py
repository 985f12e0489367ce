"""PostgreSQL goes away under running workers: a routine restart, and a crash.

Each test runs its own throwaway server (``tests/pgserver.py``), because it
restarts or kills it. Workers must treat the database as weather: stay alive,
reconnect (the main connection and the LISTEN one), and leave no job
``processing`` without a process once the server is back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import peewee
import pytest

from queuectl.errors import StoreUnavailable
from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads
from queuectl.store import db
from queuectl.store.models import Job, JobState, Run, database
from tests.integration.conftest import Cluster, running_cluster
from tests.pgserver import PgServer, throwaway_server
from tests.polling import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[PgServer]:
    with throwaway_server() as made:
        yield made


@pytest.fixture
def outage_cluster(server: PgServer, tmp_path) -> Iterator[Cluster]:
    with running_cluster(server.url, tmp_path) as made:
        yield made
    db.close_database()


def _reconnected(read):
    """``read()`` on a fresh connection; ``None`` while the server is still away."""

    def attempt():
        try:
            return read()
        except peewee.DatabaseError:
            with contextlib.suppress(peewee.DatabaseError):
                database.close()
            return None

    return attempt


def _alive(cluster: Cluster) -> list[bool]:
    return [proc.poll() is None for proc in cluster.procs]


def test_a_long_outage_keeps_backing_off_at_its_cap_and_is_logged_once():
    """Hours of failures (a worker retries at most every few seconds): the delay stays
    at its cap instead of growing until ``2 ** failures`` overflows, which killed a worker
    about 85 minutes into an outage."""
    from queuectl.runtime.outage import Outage

    said: list[str] = []
    clock = {"now": 0.0}
    outage = Outage(said.append, "worker w1", max_delay=lambda: 5.0, clock=lambda: clock["now"])
    delays = []
    for _ in range(5_000):  # about seven hours at the 5 s cap
        delays.append(outage.failed(RuntimeError("connection refused")))
        clock["now"] += delays[-1]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert max(delays) == delays[-1] == 5.0
    outage.over()
    assert len(said) == 2
    assert said[1].startswith("worker w1: database back after 2")
    assert said[1].endswith("(5000 failed tries)")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_idle_workers_survive_a_server_restart(server, outage_cluster, mode):
    """``pg_ctl restart -m fast`` (routine) and ``-m immediate`` (a crash): both idle
    workers live on, and take the next job through a re-established LISTEN."""
    cluster = outage_cluster
    cluster.start_workers(2)
    server.restart(mode)
    database.close()  # our own connection died with the server too
    job_id = wait_until(
        _reconnected(lambda: cluster.enqueue("echo after the restart")), 20, "an enqueue"
    )
    job = cluster.wait_state(job_id, JobState.COMPLETED, timeout=30)
    assert job.output == "after the restart\n"
    assert _alive(cluster) == [True, True], cluster.logs()
    logs = cluster.logs()
    assert "database unavailable" in logs and "database back after" in logs
    assert "Traceback" not in logs, logs


@pytest.mark.timeout(150)
@pytest.mark.parametrize(("workers", "slots"), [(4, 1), (2, 3)])
def test_a_drain_through_a_crash_ends_with_every_job_finished_and_every_worker_alive(
    server, outage_cluster, workers, slots
):
    """Workers draining jobs when the server crashes for 3 s: afterwards every job
    is completed (none lost, none stuck ``processing``) and every worker still runs.
    With slots, the crash also meets groups of finishes on their way (pipelined).

    Workers commit with ``synchronous_commit=off``, so the crash may lose finishes
    they were told had committed; those jobs rerun (at least once), and must not
    stay ``processing`` under a worker that has moved on.
    """
    cluster = outage_cluster
    cluster.slots = slots
    jobs = 400
    enqueuing.enqueue_many(
        [JobSpec(command="sleep 0.02", id=f"j{n}", max_retries=5) for n in range(jobs)],
        cwd=cluster.workdir,
    )
    cluster.start_workers(workers)
    wait_until(lambda: reads.counts()[JobState.COMPLETED.value] >= 40, 60, "a running drain")
    server.stop("immediate")
    database.close()
    time.sleep(3)  # the outage itself: the one wait here that is the point, not a guess
    server.start()

    def finished():
        counts = reads.counts()
        return counts[JobState.COMPLETED.value] + counts[JobState.DEAD.value] == jobs

    wait_until(_reconnected(finished), 90, f"all {jobs} jobs to finish ({cluster.logs()})")
    assert Job.select().where(Job.state == JobState.PROCESSING.value).count() == 0
    assert reads.counts()[JobState.COMPLETED.value] == jobs
    assert Run.select().where(Run.outcome.is_null()).count() == 0
    assert _alive(cluster) == [True] * workers, cluster.logs()
    assert "Traceback" not in cluster.logs()


def test_a_server_that_never_answers_gives_one_line_not_a_hang(monkeypatch):
    """A port that accepts connections and says nothing (a stopped server, a black-holed
    network): a command gives up after the connect timeout with one line."""
    import socket

    from tests.test_cli import _invoker

    pytest.importorskip("psycopg")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nobody ever answers
        port = silent.getsockname()[1]
        monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 1)
        started = time.monotonic()
        result = _invoker()("--db", f"postgresql://u@127.0.0.1:{port}/q", "status", ok=False)
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: cannot use the database postgresql://u@127.0.0.1:")
    assert "timeout" in line
    assert elapsed < 10


@pytest.mark.timeout(90)
def test_logs_follow_rides_out_a_restart(server, outage_cluster):
    """``logs --follow`` across ``pg_ctl restart``: one line when the database goes,
    one when it is back, and the job's output and exit status as without the outage."""
    import subprocess
    import sys

    cluster = outage_cluster
    cluster.start_workers(1)
    seen = f"{cluster.workdir}/seen"
    job_id = cluster.enqueue(
        f"echo before; while [ ! -e {seen} ]; do sleep 0.05; done; sleep 1; echo after"
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "logs", job_id, "--follow"],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cluster.procs.append(follower)  # type: ignore[arg-type]
    assert follower.stdout is not None and follower.stderr is not None
    assert follower.stdout.readline() == "before\n"
    server.restart("fast")
    open(seen, "w").close()  # the job goes on, and finishes while we reconnect
    assert follower.wait(timeout=60) == 0, follower.stderr.read()
    assert follower.stdout.read() == "after\n"
    err = follower.stderr.read()
    assert "logs --follow: database unavailable" in err
    assert "logs --follow: database back after" in err
    assert "Traceback" not in err


def test_a_server_that_goes_silent_fails_the_connection_instead_of_hanging(pg_url):
    """A network that drops packets held a worker's statement for the kernel's 15 minutes
    of retransmissions (or for ever, while it only waited): every PostgreSQL connection
    now asks libpq to give up on a silent server within about 20 s; a URL's own setting
    wins."""
    from queuectl.store import db as store_db

    opened = store_db.open_database(pg_url, durable=False)
    try:
        assert {name: opened.connect_params[name] for name in store_db.DEAD_PEER_PARAMS} == (
            store_db.DEAD_PEER_PARAMS
        )
        connection = opened.connection()
        assert connection.info.get_parameters()["tcp_user_timeout"] == "20000"
    finally:
        store_db.close_database()
    separator = "&" if "?" in pg_url else "?"
    own = store_db.open_database(f"{pg_url}{separator}keepalives_idle=60", durable=False)
    try:
        assert own.connect_params["keepalives_idle"] in ("60", 60)
    finally:
        store_db.close_database()


def test_a_pipeline_cut_by_the_server_leaves_one_error_not_psycopgs_warning(pg_url, caplog):
    """``enqueue --file`` during a crash printed "error ignored terminating
    <psycopg.Pipeline [BAD] at 0x7fb3…>: the connection is lost" above its one
    ``Error:`` line (an outside try): psycopg's warning, through Python's last resort."""
    import psycopg

    opened = db.open_database(pg_url)
    try:
        connection = opened.connection()
        with (
            psycopg.connect(pg_url, autocommit=True) as killer,
            pytest.raises(psycopg.OperationalError),
            connection.pipeline(),
        ):
            connection.execute("SELECT 1")
            killer.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
            wait_until(lambda: _gone(killer, connection), what="the backend ended")
            connection.execute("SELECT 2")
    finally:
        db.close_database()
    # What reaches a handler (pytest's here, Python's last resort on stderr in a command).
    assert not [r for r in caplog.records if "psycopg.Pipeline" in r.getMessage()]


def _gone(killer, connection) -> bool:
    """Whether the server has ended ``connection``'s backend."""
    pid = connection.info.backend_pid
    found = killer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return found is None


def test_each_session_says_which_command_it_is(pg_url):
    """An operator could not tell a worker's session from a ``wait``'s or a dashboard's
    in ``pg_stat_activity`` without ``ss -tnp`` (an outside try)."""
    opened = db.open_database(pg_url, application="queuectl worker run")
    try:
        named = opened.execute_sql("SHOW application_name").fetchone()[0]
        assert named == "queuectl worker run"
    finally:
        db.close_database()
    separator = "&" if "?" in pg_url else "?"
    opened = db.open_database(f"{pg_url}{separator}application_name=nightly")
    try:
        assert opened.execute_sql("SHOW application_name").fetchone()[0] == "nightly"
    finally:
        db.close_database()


@pytest.mark.timeout(90)
def test_commands_started_while_the_server_is_away_wait_for_it(server, outage_cluster):
    """A worker, a ``wait`` and a ``logs --follow`` started while the server is down (a
    host booting before it, an autoscaler as it returns) exited 1 at once, and systemd's
    few quick restarts were spent before it came back. They wait, saying so once; a
    command that does not wait (``list``) still fails at once with one line."""
    import subprocess
    import sys

    cluster = outage_cluster
    job_id = cluster.enqueue("echo waited for")
    server.stop()
    database.close()
    refused = subprocess.run(
        [sys.executable, "-m", "queuectl", "list"], env=cluster.env, capture_output=True, text=True
    )
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "Connection refused" in refused.stderr
    # A wait's --timeout holds while it waits for the server (it waited for ever).
    started = time.monotonic()
    timed_out = subprocess.run(
        [sys.executable, "-m", "queuectl", "wait", job_id, "--timeout", "1s"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert timed_out.returncode == 1 and time.monotonic() - started < 15, timed_out.stderr
    assert timed_out.stderr.startswith("wait: database unavailable (Connection refused")
    assert timed_out.stderr.splitlines()[-1].startswith("Error: cannot use the database")
    worker = cluster.start_worker()
    waiting = {
        name: subprocess.Popen(
            [sys.executable, "-m", "queuectl", *argv],
            env=cluster.env,
            stdout=subprocess.PIPE,
            stderr=open(f"{cluster.workdir}/{name}.err", "w+"),  # noqa: SIM115
            text=True,
        )
        for name, argv in (
            ("wait", ["wait", job_id]),
            ("logs", ["logs", job_id, "--follow"]),
            ("start", ["worker", "start", "--queue", "elsewhere"]),
        )
    }
    cluster.procs.extend(waiting.values())  # type: ignore[arg-type]
    # An exporter started at boot before its server exited 1 (Prometheus saw the target
    # down): it serves, each scrape a 503 saying why, until the database answers.
    exporter = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "metrics", "--serve", "127.0.0.1:0"],
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=open(f"{cluster.workdir}/metrics.err", "w+"),  # noqa: SIM115
        text=True,
    )
    cluster.procs.append(exporter)  # type: ignore[arg-type]
    assert exporter.stdout is not None
    metrics_url = exporter.stdout.readline().strip()
    assert _scraped(metrics_url)[0] == 503

    def said(name: str) -> str:
        with open(f"{cluster.workdir}/{name}.err") as err:
            return err.read()

    for name in waiting:
        wait_until(lambda name=name: "database unavailable" in said(name), 20, f"{name}'s line")
    wait_until(lambda: "database unavailable" in cluster.logs(), 20, "the worker's line")
    assert worker.poll() is None and all(proc.poll() is None for proc in waiting.values())
    assert said("metrics").startswith("metrics: cannot use the database postgresql://")
    assert "Connection refused" in _scraped(metrics_url)[1]
    server.start()
    assert waiting["wait"].wait(timeout=40) == 0, said("wait")
    wait_until(lambda: _scraped(metrics_url)[0] == 200, 20, "a scrape the database answers")
    assert "queuectl_jobs{" in _scraped(metrics_url)[1]
    assert waiting["logs"].wait(timeout=10) == 0, said("logs")
    assert waiting["logs"].stdout.read() == "waited for\n"
    assert waiting["start"].wait(timeout=30) == 0, said("start")
    stopped = subprocess.run(
        [sys.executable, "-m", "queuectl", "worker", "stop", "--all"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stopped.returncode == 0, stopped.stderr
    for name, what in (("wait", "wait"), ("logs", "logs --follow"), ("start", "worker start")):
        assert said(name).startswith(
            f"{what}: database unavailable (Connection refused (server 127.0.0.1:"
        ), said(name)
        assert "database back after" in said(name)
    logs = cluster.logs()
    assert "worker: database unavailable (Connection refused" in logs, logs
    assert "worker: database back after" in logs and "Traceback" not in logs


def test_a_cause_that_changes_and_stays_is_said_and_a_passing_one_is_not():
    """A worker's log named an outage's first cause for good: a password rotated during a
    restart read as "terminating connection" for as long as it lasted. A new cause is
    said once it lasted five seconds; a restart's passing causes (a second or two) are
    not (counted in tries, three took 0.7 s, and a 2 s restart logged one)."""
    from queuectl.runtime.outage import Outage

    said: list[str] = []
    clock = [0.0]
    outage = Outage(said.append, "worker w1", clock=lambda: clock[0])

    def fail(cause: str | StoreUnavailable, times: int) -> None:
        for _ in range(times):
            outage.failed(cause if isinstance(cause, StoreUnavailable) else RuntimeError(cause))
            clock[0] += 1.0

    fail("terminating connection due to administrator command", 1)
    fail("Connection refused (server db:5432)", 4)  # 3 s: a restart's
    fail("the database system is starting up", 1)
    fail('password authentication failed for user "app" (server db:5432)', 10)
    assert said == [
        "worker w1: database unavailable (terminating connection due to administrator"
        " command); retrying until it is back",
        "worker w1: database unavailable, now: password authentication failed for user"
        ' "app" (server db:5432)',
    ]
    # Back to a cause said before, for good: said again (it stuck on the second one).
    fail("Connection refused (server db:5432)", 6)
    assert said[-1] == "worker w1: database unavailable, now: Connection refused (server db:5432)"
    # A refused statement is said as one, and so is its end.
    fail(StoreUnavailable("integer out of range", refused=True), 6)
    assert said[-1] == "worker w1: the database refuses a statement, now: integer out of range"
    assert len(said) == 4
    outage.over()
    assert said[-1].startswith("worker w1: statements go through again after ")
    fail('password authentication failed for user "app" (server db:5432)', 1)
    assert said[-1].startswith("worker w1: database unavailable (password authentication")


def _scraped(url: str) -> tuple[int, str]:
    """A scrape's status and body, a 503 included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
