"""The queue as Prometheus metrics: a custom collector, printed or served over HTTP.

The collector reads the database on every collection (each ``metrics`` call,
each scrape), so the figures are always the database's, from any host. Names
follow Prometheus' conventions: ``queuectl_`` first, base units (seconds),
``_ratio`` for fractions. The figures over a window are gauges labelled by
queue; to add queues up, use ``sum()`` (quantiles do not add up: read each).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from queuectl.cli.common import note_interrupts
from queuectl.errors import QueueError, ValidationError
from queuectl.states import JobState, WorkerState

_WINDOW_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("finished", "queuectl_finished_jobs", "Jobs that reached an outcome (completed or dead)"),
    ("completed", "queuectl_completed_jobs", "Jobs completed"),
    ("failed_attempts", "queuectl_failed_attempts", "Attempts that failed, timed out or were lost"),
    ("dead", "queuectl_dead_jobs", "Jobs that went to the dead letter queue"),
    ("per_minute", "queuectl_throughput_per_minute", "Jobs finished per minute"),
    ("success_rate", "queuectl_success_ratio", "Completed over finished jobs"),
)


_NONE_IN_THE_WINDOW = {
    "finished": 0,
    "completed": 0,
    "failed_attempts": 0,
    "dead": 0,
    "per_minute": 0,
}
"""The window's figures for a queue no run of which ended in it (its ratio: none)."""


_QUANTILE_FIGURES: tuple[tuple[str, str, tuple[str | None, ...]], ...] = (
    (
        "queuectl_job_duration_seconds",
        "Attempt duration in the window",
        ("duration_p50", "duration_p95", "duration_max"),
    ),
    (
        "queuectl_job_wait_seconds",
        "Wait from due to start in the window",
        ("wait_p50", "wait_p95", None),
    ),
)
"""Families of the 0.5, 0.95 and 1 quantiles: name, help, the figure of each."""
METRIC_NAMES = (
    "queuectl_jobs",
    "queuectl_queue_paused",
    "queuectl_workers",
    "queuectl_worker_slots",
    "queuectl_window_seconds",
    *(name for _key, name, _text in _WINDOW_FIGURES),
    *(name for name, _text, _parts in _QUANTILE_FIGURES),
)
"""Every family ``QueueCollector.collect`` yields, in its order."""


class QueueCollector(Collector):
    """Jobs per queue and state, workers per state, and ``stats``' figures over a window.

    Args:
        window_start: the window's start (epoch seconds) for a collection at ``now``.
    """

    def __init__(self, window_start: Callable[[float], float]) -> None:
        self._window_start = window_start

    def describe(self) -> list[Any]:
        """The families' names, no samples: a scrape asking for some by name (``/metrics?
        name[]=queuectl_workers``) got an empty page while the collector named none."""
        return [GaugeMetricFamily(name, "") for name in METRIC_NAMES]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from queuectl.lifecycle import queues, stats
        from queuectl.lifecycle.workers import live_of, workers_as_seen
        from queuectl.store.transactions import read_transaction

        now = time.time()
        since = self._window_start(now)
        with read_transaction():
            jobs = stats.jobs_per_queue_and_state()
            workers = workers_as_seen(include_ended=True, ended_since=since, now=now)
            paused = queues.paused_names()
        figures = stats.window_stats(since, now=now)

        family = GaugeMetricFamily(
            "queuectl_jobs", "Jobs in the database, per queue and state", labels=["queue", "state"]
        )
        for queue in sorted({queue for queue, _state in jobs}):
            for state in JobState:
                count = jobs.get((queue, state.value), 0)
                family.add_metric([_label(queue), state.value], count)
        yield family

        # A queue paused on purpose had no series to tell it from one that stopped moving:
        # a "throughput 0 while jobs wait" alert fired on it.
        family = GaugeMetricFamily(
            "queuectl_queue_paused",
            "1 for a paused queue (its jobs wait for queue resume), 0 otherwise",
            labels=["queue"],
        )
        for queue in sorted({queue for queue, _state in jobs} | paused):
            family.add_metric([_label(queue)], 1 if queue in paused else 0)
        yield family

        family = GaugeMetricFamily(
            "queuectl_workers",
            "Workers per state (stopped and lost: those that ended in the window)",
            labels=["state"],
        )
        for state in WorkerState:
            family.add_metric([state.value], sum(1 for w in workers if w.state == state.value))
        yield family

        # Workers count processes: with slots, how full they are is the slots' figure.
        live = live_of(workers)
        family = GaugeMetricFamily(
            "queuectl_worker_slots",
            "Job slots of the live workers: busy (running a job) and idle",
            labels=["state"],
        )
        busy = sum(w.slots_busy for w in live)
        family.add_metric(["busy"], busy)
        family.add_metric(["idle"], max(0, sum(w.slots for w in live) - busy))
        yield family

        yield GaugeMetricFamily(
            "queuectl_window_seconds",
            "Length of the window the queuectl_*_jobs, _attempts and _seconds figures cover",
            value=now - since,
        )
        # A queue with no run in the window has counts of 0, not none: an alert on a queue
        # that stopped moving (throughput 0 while jobs wait) had no series to fire on.
        # A ratio of nothing stays absent.
        rows = {row.queue: row for row in figures.queues}
        known = sorted(rows.keys() | {queue for queue, _state in jobs})
        for key, name, text in _WINDOW_FIGURES:
            family = GaugeMetricFamily(name, f"{text} in the window", labels=["queue"])
            for queue in known:
                row = rows.get(queue)
                value = getattr(row, key) if row is not None else _NONE_IN_THE_WINDOW.get(key)
                if value is not None:
                    family.add_metric([_label(queue)], value)
            yield family
        for prefix, text, parts in _QUANTILE_FIGURES:
            family = GaugeMetricFamily(prefix, f"{text}, by quantile", labels=["queue", "quantile"])
            for row in figures.queues:
                for quantile, key in zip(("0.5", "0.95", "1"), parts, strict=True):
                    value = getattr(row, key) if key else None
                    if value is not None:
                        family.add_metric([_label(row.queue), quantile], value)
            yield family


def _label(name: str) -> str:
    """A queue name as a label value, inert: the format escapes only ``\\``, ``"`` and
    newlines, and a hostile row's escape sequences reached a terminal reading the page."""
    from queuectl.textsafe import one_line

    return one_line(name)


def registry_of(collector: QueueCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(collector: QueueCollector) -> str:
    """The text exposition format, as node_exporter's textfile collector reads it."""
    from prometheus_client.exposition import generate_latest

    return generate_latest(registry_of(collector)).decode("utf-8")


def parse_address(address: str, *, allow_remote: bool) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9108`` for IPv6) checked as ``queuectl web`` checks ``--host``.

    Raises:
        ValidationError: malformed, or beyond loopback without ``allow_remote``.
    """
    from queuectl.web.access import bare_host, check_listen_host

    host, colon, port_text = address.rpartition(":")
    if not colon or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ValidationError(
            f"--serve must be HOST:PORT, e.g. 127.0.0.1:9108 or [::1]:9108 (got {address!r})"
        )
    try:
        host = bare_host(host)  # [::1], as web --host takes it; [localhost] is refused
        remote = check_listen_host(host, allow_remote=True)  # resolves a name
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("--host", "--serve host")) from None
    if remote and not allow_remote:
        raise ValidationError(
            f"refusing to serve metrics on {host}: anyone who reaches the port could read"
            " the queue's figures and queue names; pass --allow-remote (or scrape over 'ssh -L')"
        )
    return host, int(port_text)


REQUEST_SECONDS = 10.0
"""Longest one connection may take, from its arrival to the answer's last byte; a scrape
reads the database in well under a second at 100,000 jobs."""
MAX_WAITING = 64
"""Connections that have not sent a whole request yet, at once; one more closes the oldest."""


class _QuietHandler(WSGIRequestHandler):
    server: _MetricsServer

    def parse_request(self) -> bool:
        whole = super().parse_request()
        if whole:
            self.server.answering(self.connection)
        return whole

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every 15 s is not news


class _MetricsServer(ThreadingMixIn, WSGIServer):
    """Each connection in a thread of its own, so a client that is slow to send its
    request holds up nobody else: answered one at a time, a client that connected and
    went quiet held Prometheus' scrape up past its 10 s timeout (five held it 24 s).

    Every connection gets ``REQUEST_SECONDS`` in all, a byte now and then
    notwithstanding, and at most ``MAX_WAITING`` may wait for their request at
    once; the answer itself reads the database one scrape at a time (``_scrape``).
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    """The kernel's queue of connections not yet accepted: at socketserver's 5, a few
    clients connecting at once made the kernel drop the next (Prometheus') for a second."""
    interrupted: Callable[[], bool] = staticmethod(lambda: False)  # type: ignore[assignment]
    """Whether Ctrl+C came (``note_interrupts``)."""

    def server_activate(self) -> None:
        super().server_activate()
        self._lock = threading.Lock()
        self._arrived: dict[socket.socket, float] = {}
        """Every open connection and when it came, the oldest first."""
        self._answering: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._arrived[request] = time.monotonic()
            waiting = [c for c in self._arrived if c not in self._answering]
            for connection in waiting[: max(0, len(waiting) - MAX_WAITING)]:
                _cut(connection)
        super().process_request(request, client_address)

    def answering(self, connection: socket.socket) -> None:
        with self._lock:
            self._answering.add(connection)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._arrived.pop(request, None)
            self._answering.discard(request)
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Each turn of ``serve_forever`` (every half second at most): cut off
        connections past their time, and act on a Ctrl+C noted meanwhile."""
        if self.interrupted():
            raise KeyboardInterrupt
        cutoff = time.monotonic() - REQUEST_SECONDS
        with self._lock:
            for connection, since in self._arrived.items():
                if since > cutoff:
                    break  # the rest came later
                _cut(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away, or was cut off, is its own business: socketserver
        printed a traceback for each, so anyone who reached the port filled the log."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handle_error(request, client_address)


def _cut(connection: socket.socket) -> None:
    """End a connection from another thread: its thread's read or write then fails."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


_SCRAPING = threading.Lock()

FAILURE_REPEAT_SECONDS = 60.0
"""A failure that goes on is said again this often, not at every scrape."""


class _FailureLog:
    """Scrapes that cannot read the database, said on stderr in one line each: when the
    failure starts or changes, once a minute while it goes on, and when it ends.

    Each failed scrape printed three chained tracebacks (90 lines), every 15 s."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._last: str | None = None
        self._said_at = 0.0
        self._failed = 0

    def failed(self, why: str) -> None:
        self._failed += 1
        now = time.monotonic()
        if why != self._last or now - self._said_at >= FAILURE_REPEAT_SECONDS:
            again = f" ({self._failed:,} failed scrapes so far)" if why == self._last else ""
            self._say(f"Error: a scrape cannot read the database, answered 503: {why}{again}")
            self._last, self._said_at = why, now

    def succeeded(self) -> None:
        if self._last is not None:
            scrapes = "scrape" if self._failed == 1 else "scrapes"
            self._say(f"The database answers again, after {self._failed:,} failed {scrapes}")
        self._last, self._failed = None, 0


def _scrape(
    app: Callable[..., Any],
    environ: dict[str, Any],
    start_response: Any,
    failures: _FailureLog | None = None,
    opener: Callable[[], object] | None = None,
) -> list[bytes]:
    """One scrape at a time, on this thread's own connection to the database, closed after.

    peewee keeps a connection per thread. Where there is no database yet, a
    read-only command is given an empty one in memory (``db``): a new thread's is
    a new, empty one, given the tables here. A database that cannot be read (gone,
    its server down) is a 503 with the reason in one line, the scrape ``up`` for
    Prometheus no more than a refused connection would be.
    """
    import peewee

    from queuectl.errors import explain
    from queuectl.store import db
    from queuectl.store.schema import ensure_schema
    from queuectl.store.writelock import explain as explain_driver_error

    with _SCRAPING:
        try:
            if opener is not None:
                opener()  # opens the database the first time it answers, then nothing
            if db.is_stand_in():
                ensure_schema()
            body = list(app(environ, start_response))
        except (QueueError, peewee.DatabaseError) as exc:
            why = explain(exc) if isinstance(exc, QueueError) else explain_driver_error(exc)
            if failures is not None:
                failures.failed(why)
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
                sys.exc_info(),
            )
            return [f"503 Service Unavailable: cannot read the database: {why}\n".encode()]
        finally:
            db.close_database()
    if failures is not None:
        failures.succeeded()
    return body


def _head(
    app: Callable[..., Any],
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    failures: _FailureLog,
    opener: Callable[[], object] | None = None,
):
    """A GET's status and headers with no body: prometheus_client answers HEAD with 405,
    and ``curl -I`` and uptime checks send it. Its Content-Length is the GET's."""
    answer: list[Any] = []

    def started(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> None:
        answer[:] = [status, headers]  # the last call's: a 503 replaces a 200 begun

    get = {**environ, "REQUEST_METHOD": "GET"}
    body = b"".join(_scrape(app, get, started, failures, opener))
    status, headers = answer
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return []


def serve(
    collector: QueueCollector,
    address: tuple[str, int],
    *,
    announce: Callable[[str], None],
    warn: Callable[[str], None],
    opener: Callable[[], object] | None = None,
) -> None:
    """Serve ``/metrics`` on ``address`` until interrupted, a thread per connection.

    On loopback, a request whose ``Host`` is not a loopback name (a DNS-rebound
    page in a browser) gets 403, as ``queuectl web`` does. ``opener``, when the
    database could not be opened yet: called before each scrape until it can.
    """
    from prometheus_client import make_wsgi_app

    from queuectl.web.access import check_listen_host, host_header_allowed

    host, port = address
    remote = check_listen_host(host, allow_remote=True)
    metrics_app = make_wsgi_app(registry_of(collector))
    failures = _FailureLog(warn)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not host_header_allowed(environ.get("HTTP_HOST"), listen_host=host, remote=remote):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"403 Forbidden: not a loopback Host\n"]
        if environ.get("PATH_INFO") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"404 Not Found: the metrics are at /metrics\n"]
        if environ.get("REQUEST_METHOD") == "HEAD":
            return _head(metrics_app, environ, start_response, failures, opener)
        return _scrape(metrics_app, environ, start_response, failures, opener)

    # Connections are answered in threads, so Ctrl+C lands in this one's loop and
    # ends the command at once; noted too, so one raised where Python cannot raise
    # it (an object's __del__) ends it at the loop's next turn.
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type(
        "MetricsServer",
        (_MetricsServer,),
        {"address_family": family, "interrupted": staticmethod(note_interrupts())},
    )
    try:
        server = server_class((host, port), _QuietHandler)
    except OSError as exc:
        raise QueueError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    server.set_app(app)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{bound}/metrics")
    try:
        server.serve_forever()  # Ctrl+C ends it with 130, as every command (cli.common)
    finally:
        server.server_close()
