"""``metrics --serve`` against clients that connect and are slow to ask, or never do.

Answered one connection at a time, a client that connected and went quiet held
Prometheus' scrape past its usual 10 s timeout (five such clients: 24 s), and
each one cut off printed a traceback. Now each connection has a thread, the
database is read one scrape at a time on that thread's own connection, and only
so many connections may wait for their request at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from queuectl.cli.exposition import MAX_WAITING
from queuectl.store import db
from tests.polling import wait_until
from tests.test_cli import enqueue

SCRAPE_SECONDS = 5.0
"""Well inside Prometheus' default scrape timeout (10 s), on a loaded machine."""


@contextlib.contextmanager
def _serving(location: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "QUEUECTL_DB": location}
    server = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "metrics", "--serve", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server, server.stdout.readline().strip()
    finally:
        server.kill()
        server.wait(10)


def _scrape(url: str) -> tuple[dict[str, float], float]:
    """The samples of one scrape, by name and labels, and how long it took."""
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    samples = {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return samples, time.monotonic() - started


def _stop(server: subprocess.Popen[str]) -> str:
    """Ctrl+C, as a user stops it: 130 and no traceback; returns its stderr."""
    server.send_signal(signal.SIGINT)
    _, err = server.communicate(timeout=10)
    assert server.returncode == 130, err
    assert "Traceback" not in err, err
    return err


def test_silent_and_trickling_clients_do_not_hold_up_scrapes(run, db_url):
    enqueue(run, id="one")
    with _serving(db_url) as (server, url):
        port = int(url.split(":")[2].split("/")[0])
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        trickling = socket.create_connection(("127.0.0.1", port))
        trickling.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
        try:
            # Scrapes at once, each on its own thread, each reading the database.
            results: list[tuple[dict[str, float], float]] = []
            scrapers = [
                threading.Thread(target=lambda: results.append(_scrape(url))) for _ in "123"
            ]
            for scraper in scrapers:
                scraper.start()
            for scraper in scrapers:
                scraper.join(30)
            assert len(results) == 3
            for samples, took in results:
                assert took < SCRAPE_SECONDS, took
                assert samples["queuectl_jobs[('queue', 'default'), ('state', 'pending')]"] == 1
        finally:
            for sock in [*silent, trickling]:
                sock.close()
        _stop(server)


def test_no_more_than_the_limit_wait_and_a_scrape_still_gets_in(db_path):
    with _serving(db_path) as (server, url):
        port = int(url.split(":")[2].split("/")[0])
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_WAITING + 40)]
        try:

            def threads() -> int:
                status = Path(f"/proc/{server.pid}/status").read_text()
                return int(status.split("Threads:")[1].split()[0])

            wait_until(lambda: threads() <= MAX_WAITING + 5, 10, "the oldest waiting ones cut")
            _, took = _scrape(url)  # where there is no database yet: the empty stand-in
            assert took < SCRAPE_SECONDS, took
        finally:
            for sock in held:
                sock.close()
        _stop(server)


def _status_and_body(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_database_gone_while_serving_is_a_503_said_once_not_a_traceback_a_scrape(
    run_sqlite, db_path
):
    """Each failed scrape printed three chained tracebacks (90 lines) on stderr, every 15 s:
    now a 503 with the reason, one line when it starts, and one when it is over."""
    enqueue(run_sqlite, id="one")
    with _serving(db_path) as (server, url):
        assert _status_and_body(url)[0] == 200
        for path in Path(db_path).parent.glob(Path(db_path).name + "*"):
            path.unlink()
        for _ in range(3):
            status, body = _status_and_body(url)
            assert status == 503
            assert body == (
                "503 Service Unavailable: cannot read the database: the database file"
                f" {db_path} was deleted or moved away\n"
            )
        assert _status_and_body(url, "HEAD")[0] == 503
        enqueue(run_sqlite, id="again")  # a database at the path again: the scrapes read it
        samples, _ = _scrape(url)
        assert samples["queuectl_jobs[('queue', 'default'), ('state', 'pending')]"] == 1
        err = _stop(server)
    assert [line for line in err.splitlines() if line] == [  # and the newline after ^C
        "Error: a scrape cannot read the database, answered 503: the database file"
        f" {db_path} was deleted or moved away",
        "The database answers again, after 4 failed scrapes",
    ]


def test_a_failure_that_goes_on_is_said_again_once_a_minute_with_its_count(monkeypatch):
    from queuectl.cli import exposition

    clock = [1000.0]
    monkeypatch.setattr(exposition.time, "monotonic", lambda: clock[0])
    said: list[str] = []
    failures = exposition._FailureLog(said.append)
    for _ in range(4):  # a scrape every 15 s
        failures.failed("server closed the connection")
        clock[0] += 15
    failures.failed("server closed the connection")  # a minute after the first
    failures.failed("connection refused")  # another reason: said at once
    failures.succeeded()
    failures.succeeded()
    assert said == [
        "Error: a scrape cannot read the database, answered 503: server closed the connection",
        "Error: a scrape cannot read the database, answered 503: server closed the connection"
        " (5 failed scrapes so far)",
        "Error: a scrape cannot read the database, answered 503: connection refused",
        "The database answers again, after 6 failed scrapes",
    ]


def test_a_scrape_asking_for_families_by_name_gets_them(run_sqlite, db_path):
    """``/metrics?name[]=queuectl_workers`` answered 200 with an empty page: the collector
    named no family, so the name filter matched none."""
    from queuectl.cli.exposition import METRIC_NAMES, QueueCollector, render

    enqueue(run_sqlite, id="one")
    with _serving(db_path) as (server, url):
        status, body = _status_and_body(url + "?name[]=queuectl_workers&name[]=queuectl_jobs")
        assert status == 200
        names = {family.name for family in text_string_to_metric_families(body)}
        assert names == {"queuectl_workers", "queuectl_jobs"}
        _stop(server)
    db.open_database(db_path)
    everything = render(QueueCollector(lambda now: now - 3600))
    assert [f.name for f in text_string_to_metric_families(everything)] == list(METRIC_NAMES)
