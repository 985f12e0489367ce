"""Start detached workers, ask them to stop, wait for them: for the CLI and the dashboard.

Workers are ordinary ``python -m queuectl worker run`` processes in their own
session, so closing the terminal (or quitting the dashboard) that started them
does not stop them. A stop request is written to the Worker row (it works
across hosts); on this host a SIGTERM is sent too, so the worker wakes at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from queuectl.errors import (
    DatabaseError,
    QueueError,
    StoreUnavailable,
    ValidationError,
    WorkerNotFound,
)
from queuectl.hostid import pid_alive, this_host
from queuectl.lifecycle import manage, reads, recovery
from queuectl.lifecycle.hooks import HookCall
from queuectl.lifecycle.settings import load as load_settings
from queuectl.lifecycle.workers import (
    answer_within,
    ask_to_stop,
    is_lost,
    lost_by_heartbeat_alone,
    new_worker_id,
)
from queuectl.location import default_location, sqlite_path
from queuectl.runtime.fdlimit import ensure_descriptors
from queuectl.runtime.procs import holds_this_database, kill_orphan_group, runs_a_worker
from queuectl.runtime.slots import MAX_SLOTS
from queuectl.states import ENDED_WORKER_STATES, WorkerState
from queuectl.store import db, filesafety, privatefiles
from queuectl.textsafe import one_line
from queuectl.wording import counted, listed

if TYPE_CHECKING:
    from queuectl.store.models import Worker

START_TIMEOUT = 15.0
"""Seconds a new worker has to register; generous for a loaded machine."""

MAX_START = 128
"""Most workers one call starts: a typo such as ``--count 1000`` must not fork a thousand."""

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Workers this process started, kept so their exit is reaped (no zombies in a
long-lived dashboard) and so a worker that dies at start is noticed at once."""


def reap_exited() -> None:
    """Collect the exit status of workers we started that have exited (no zombies).

    A long-lived starter (the dashboard, a web session) calls it at each refresh: a
    worker it started and someone stopped stayed a zombie until the next start."""
    for proc in list(_children.values()):
        if proc.poll() is not None:
            _children.pop(proc.pid, None)


def log_dir(location: str) -> str:
    """Worker logs live beside an SQLite database, else in the XDG data folder."""
    path = sqlite_path(location)
    base = os.path.dirname(path) if path is not None else os.path.dirname(default_location())
    return os.path.join(base, "logs")


def start_workers(
    location: str, count: int, queues: Sequence[str] = ("default",), *, slots: int = 1
) -> list[Worker]:
    """Start ``count`` detached workers on ``location`` and return their registered rows.

    Each runs up to ``slots`` jobs at once (``queuectl.runtime.slots``).

    The models must already be bound to ``location`` (``db.open_database``).

    Raises:
        ValidationError: ``count`` outside 1..MAX_START, or ``slots`` outside 1..MAX_SLOTS.
        QueueError: a worker exited or did not register in time (the message names its log).
    """
    if not 1 <= count <= MAX_START:
        raise ValidationError(f"count must be between 1 and {MAX_START} (got {count})")
    if not 1 <= slots <= MAX_SLOTS:
        raise ValidationError(f"slots must be between 1 and {MAX_SLOTS} (got {slots})")
    ensure_descriptors(slots)  # raised here, the workers started inherit it
    reap_exited()
    queues = [q for q in queues if q] or ["default"]
    gone = db.gone_from_its_path()
    if gone:
        # Making the log folder first made the deleted database's folder again (the
        # workers then failed to open the database all the same).
        raise DatabaseError(f"refusing to start workers: {gone}")
    folder = log_dir(location)
    # The way to it first: on PostgreSQL no database check covers it, and the folder
    # was made through another user's link before the refusal.
    problem = filesafety.log_folder_problem(folder)
    if problem is None:
        privatefiles.make_folders(folder, what="log folder")
        problem = filesafety.log_folder_problem(folder)  # and the folder, as made or found
    if problem:
        raise DatabaseError(f"refusing to start workers: {problem}")
    path = sqlite_path(location)
    env = dict(os.environ)
    # Through the environment, not argv: a PostgreSQL URL may hold a password,
    # and argv is visible to every user in `ps`.
    env["QUEUECTL_DB"] = path if path is not None else location
    started: list[tuple[str, str, subprocess.Popen[bytes]]] = []
    try:
        for _ in range(count):
            worker_id = new_worker_id()
            log_path = os.path.join(folder, f"worker-{worker_id}.log")
            argv = [sys.executable, "-m", "queuectl", "worker", "run"]
            argv += ["--id", worker_id, "--log-file", log_path]
            for name in queues:
                argv += ["--queue", name]
            if slots != 1:
                argv += ["--slots", str(slots)]
            # New, ours, never through a link: the name is fresh, so O_EXCL costs nothing.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_APPEND
            fd = os.open(log_path, flags | os.O_CLOEXEC, 0o600)
            try:
                privatefiles.settle_new_file(log_path, fd)  # 0660 to a shared group
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=fd,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    cwd="/",
                    env=env,
                )
            finally:
                os.close(fd)
            _children[proc.pid] = proc
            started.append((worker_id, log_path, proc))
        return _wait_registered(started)
    except BaseException:
        for _worker_id, _log, proc in started:
            if proc.poll() is None:
                proc.terminate()
        raise


def _wait_registered(started: list[tuple[str, str, subprocess.Popen[bytes]]]) -> list[Worker]:
    deadline = time.monotonic() + START_TIMEOUT
    rows: dict[str, Worker] = {}
    while True:
        for worker_id, log_path, proc in started:
            if worker_id in rows:
                continue
            row = reads.worker_rows([worker_id]).get(worker_id)
            if row is not None:
                rows[worker_id] = row
                continue
            code = proc.poll()
            if code is not None:
                raise QueueError(
                    f"worker {worker_id} exited at start (code {code}): {_last_line(log_path)}"
                    f" (log: {log_path})"
                )
        if len(rows) == len(started):
            return [rows[worker_id] for worker_id, _log, _proc in started]
        if time.monotonic() > deadline:
            late = [wid for wid, _log, _proc in started if wid not in rows]
            logs = ", ".join(log for wid, log, _proc in started if wid in late)
            raise QueueError(
                f"{'worker' if len(late) == 1 else 'workers'} {', '.join(late)}"
                f" did not register within {START_TIMEOUT:g}s"
                f" (log: {logs})"
            )
        time.sleep(0.02)


def _last_line(log_path: str) -> str:
    from queuectl.textsafe import one_line

    try:
        with open(log_path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(log_path) - 4096))
            lines = handle.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return one_line(lines[-1], 300) if lines else "no output"


def resolve_workers(refs: Sequence[str]) -> tuple[list[str], list[str]]:
    """Worker ids from ids or pids (a pid means a live worker on this host), and the
    references that match no live worker, each once, in the order given."""
    live = reads.list_workers(include_stopped=False)
    host = this_host()
    ids: list[str] = []
    unknown: list[str] = []
    for ref in dict.fromkeys(refs):
        matches = [w.id for w in live if w.id == ref]
        if not matches and ref.isdigit():
            matches = [w.id for w in live if w.pid == int(ref) and w.host == host]
        if not matches:
            unknown.append(ref)
        ids.extend(m for m in matches if m not in ids)
    return ids, unknown


def request_stop(worker_ids: Sequence[str] | None = None, *, force: bool = False) -> list[str]:
    """Ask workers to stop (all live ones when ``worker_ids`` is None); returns the ids asked.

    Ids of workers that already stopped are skipped (not returned).

    Graceful lets the current job finish; ``force`` kills it and gives its
    attempt back. Never downgrades a forced request to a graceful one.

    Raises:
        WorkerNotFound: an id is not a live worker.
    """
    workers = {w.id: w for w in reads.list_workers()}
    live = {w.id: w for w in workers.values() if w.state not in ENDED_WORKER_STATES}
    if worker_ids is None:
        targets = list(live)
    else:
        for worker_id in worker_ids:
            if worker_id not in workers:
                raise WorkerNotFound(worker_id)
        # One that stopped meanwhile (a dashboard row a moment old) is simply done.
        targets = [w for w in dict.fromkeys(worker_ids) if w in live]
    if not targets:
        return []
    try:
        ask_to_stop(targets, force=force)
    except StoreUnavailable as exc:
        # The rows cannot be written (a full disk, read-only files), but they were read:
        # a SIGTERM alone is a graceful stop, which a worker carries out without the
        # database. The stop took no effect at all, where README promises the signal.
        signalled = _signal_local(targets, live, skip_asked=False)
        told = (
            f"; sent SIGTERM instead to {counted(len(signalled), 'worker')} on this host"
            f" ({listed(signalled[:10], len(signalled))}): they stop after their jobs,"
            " without the database (graceful, even with --force)"
            if signalled
            else "; no worker of the ones asked runs on this host to signal"
        )
        # Not weather to retry: said as it is, without the "database error:" in front.
        raise QueueError(f"cannot record the stop: {exc}{told}") from exc
    _signal_local(targets, live, skip_asked=not force)
    return targets


def _signal_local(
    targets: Sequence[str], live: dict[str, Worker], *, skip_asked: bool
) -> list[str]:
    """SIGTERM to the ``targets`` that run on this host as this database's workers;
    returns their ids. ``skip_asked``: not those a graceful stop was asked of already."""
    host = this_host()
    signalled: list[str] = []
    for worker_id in targets:
        worker = live[worker_id]
        if skip_asked and worker.stop_requested:
            # Asked already, and woken then. A worker takes a second signal for a
            # cold stop (systemd's, a person's second Ctrl+C): a script that runs
            # ``worker stop`` again after its timeout killed the job it waited for.
            continue
        if worker.host == host and _is_this_worker(worker.pid, worker_id):
            # Wake it now; the row says which kind of stop, so one signal is enough.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(worker.pid, signal.SIGTERM)
                signalled.append(worker_id)
    return signalled


def _is_this_worker(pid: int, worker_id: str) -> bool:
    """Whether ``pid`` is still the worker ``worker_id`` of this database (Linux ``/proc``).

    A recycled pid is the obvious case; so are rows that name another database's live
    process: a copy or a restored backup of the database holds the original's worker
    rows, so ``worker stop`` on the copy signalled the original's workers (and then
    reported them dead). And a row anyone who can enqueue may write named the pid of
    an admin's dashboard, ``wait`` or metrics exporter, which hold this database too:
    ``worker stop`` ended each (the dashboard its own process, from ``X``) and called
    it lost. So the process must run ``queuectl worker run``; one started by ``worker
    start`` also carries this ``--id``. On SQLite it must also hold this database's
    file open.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        return pid_alive(pid)
    if not runs_a_worker(argv):
        return False
    if b"--id" in argv:
        at = argv.index(b"--id")
        if at + 1 >= len(argv) or argv[at + 1] != worker_id.encode():
            return False
    return holds_this_database(pid)


def _alive_here(pid: int) -> bool:
    """Whether ``pid`` lives and, on SQLite, holds this database open: a copy's rows name
    the original's live workers, which are lost to the copy, not running in it."""
    return pid_alive(pid) and holds_this_database(pid)


def wait_stopped(
    worker_ids: Sequence[str],
    timeout: float,
    *,
    clock: Callable[[], float] = time.time,
    note: Callable[[str], None] | None = None,
) -> list[str]:
    """Wait until the workers have stopped; returns the ids still running at the timeout.

    A worker that ``workers.is_lost`` finds dead (at ``clock``'s time) counts as stopped; recovery
    requeues its job and marks it lost on the way (``recover_now``, ``note`` said to).
    """
    deadline = time.monotonic() + max(0.0, timeout)
    host = this_host()
    lease = float(load_settings()["lease_seconds"])
    pending = list(dict.fromkeys(worker_ids))
    while True:
        reap_exited()
        rows = reads.worker_rows(pending)
        still = []
        crashed = False
        for worker_id in pending:
            row = rows.get(worker_id)
            if row is None:
                continue
            if row.state in ENDED_WORKER_STATES:
                # Its row says stopped while its process still runs the hooks of jobs it
                # recorded (``hook_timeout`` each): "stopped", exit 0, and a script's
                # upgrade or reboot cut those webhooks off. On this host, the process
                # ending is the stop; elsewhere only the row can say.
                if _finishing_hooks(row, host):
                    still.append(worker_id)
                continue
            if is_lost(row, now=clock(), lease_seconds=lease, host=host, pid_alive=_alive_here):
                crashed = True
                if row.host == host and not _alive_here(row.pid):
                    continue  # its process is gone: nothing left to wait for
            still.append(worker_id)  # one silent past its lease: recovery decides
        if crashed:
            recover_now(lease, patience=max(0.0, deadline - time.monotonic()), note=note)
        pending = still
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(0.05)


def _finishing_hooks(row: Worker, host: str) -> bool:
    """A worker whose row says it stopped while its process, on this host, still runs
    (the hooks of the jobs it recorded): the process checked to be that worker's, not a
    pid used again since (``_is_this_worker``)."""
    return (
        row.state == WorkerState.STOPPED.value
        and row.host == host
        and _is_this_worker(row.pid, row.id)
    )


def finishing_hooks(worker_ids: Sequence[str]) -> list[str]:
    """Of ``worker_ids``, those stopped but still finishing their jobs' hooks (above):
    ``--force`` does nothing for them, their jobs all recorded."""
    host = this_host()
    rows = reads.worker_rows(list(worker_ids))
    return [
        w for w in worker_ids if (row := rows.get(w)) is not None and _finishing_hooks(row, host)
    ]


def recover_now(
    lease: float | None = None,
    *,
    patience: float | None = None,
    note: Callable[[str], None] | None = None,
    hook_skipped: Callable[[str], None] | None = None,
) -> list[str]:
    """Recover the jobs of lost workers from here (the CLI), as a worker would.

    Workers lost by their heartbeat alone are first given time to answer
    (``hear_out_the_silent``, said through ``note``); cut short by ``patience``
    seconds, those still silent are left to a later look, not judged by heartbeat.
    Orphaned process groups on this host are killed before their job is
    requeued. The hooks of jobs it sends to the DLQ are not run here, and each is
    named through ``hook_skipped`` (``note`` when not given): a hook is a command
    from the database, which anyone who can enqueue may have set, and here it would
    run as whoever prunes (root, say), not as the workers' user. Workers run hooks;
    a job sent to the DLQ from here skips its own, as a process that dies before its
    hook does. Returns the ids of the jobs recovered.
    """
    host = this_host()
    settings = load_settings()
    lease_seconds = float(settings["lease_seconds"]) if lease is None else lease
    heard_out = hear_out_the_silent(lease_seconds, patience=patience, note=note)
    skipped: list[HookCall] = []
    recovered = recovery.recover_lost(
        lease_seconds=lease_seconds,
        by_heartbeat=heard_out,
        host=host,
        pid_alive=_alive_here,
        before_requeue=lambda run: kill_orphan_group(run, host),
        after_commit=skipped.append,
    )
    say = hook_skipped or note
    if say is not None:
        for hook in skipped:
            say(hook_not_run(hook))
    return recovered


def hook_not_run(hook: HookCall) -> str:
    """What is said of a hook recovery run outside a worker skipped (``recover_now``)."""
    return (
        f"job {one_line(hook.job_id)} is {hook.state}; its {hook.event} hook was not run:"
        " only workers run hooks (here it would run as you)"
    )


def hear_out_the_silent(
    lease: float,
    *,
    patience: float | None = None,
    note: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Wait for workers lost by their heartbeat alone to heartbeat, for at most
    ``workers.answer_within`` seconds; returns whether they may now be judged by it:
    each one heard from, or silent through the whole wait (not one ``patience`` cut).

    A person running ``worker prune`` or ``worker stop`` as the database comes back
    finds every worker's heartbeat an outage old, and recovery would take live
    workers for dead and throw away the results they were about to record. A live
    worker beats first thing once it reaches the database again, within its retry cap;
    a worker started then waits half a lease for the same reason (``Timers.started``).
    A worker whose process is gone, on this host, is not waited for.
    """
    host = this_host()
    now = clock()
    heard = {
        row.id: row.heartbeat_at
        for row in reads.list_workers(include_stopped=False)
        if lost_by_heartbeat_alone(row, now=now, lease_seconds=lease, host=host)
    }
    if not heard:
        return True
    full = answer_within(lease)
    wait = full if patience is None else min(patience, full)
    if note is not None:
        named = listed(list(heard)[:5], len(heard))
        note(
            f"{counted(len(heard), 'worker')} silent past the lease ({named}): waiting up to"
            f" {wait:.2g}s for a heartbeat, in case the database has just come back"
        )
    deadline = time.monotonic() + wait
    while heard and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = reads.worker_rows(list(heard))
        for worker_id, beat in list(heard.items()):
            row = rows.get(worker_id)
            if row is None or row.state in ENDED_WORKER_STATES or row.heartbeat_at > beat:
                del heard[worker_id]
    return not heard or wait >= full


@dataclass(frozen=True)
class Pruned:
    """What ``prune`` did: the worker rows deleted, and the jobs of lost workers it
    recovered first (``worker prune`` said only "pruned 10 workers", and the job
    the user was waiting for had gone back to the queue unsaid)."""

    workers: list[Worker]
    recovered: list[str]


def prune(older_than: float = 0.0, *, note: Callable[[str], None] | None = None) -> Pruned:
    """Delete the rows of stopped and lost workers.

    Workers that died without anyone noticing yet (every worker was killed)
    are recovered first, so their jobs are requeued and their rows pruned too.
    """
    recovered = recover_now(note=note)
    return Pruned(manage.prune_workers(older_than=older_than), recovered)


__all__ = [
    "Pruned",
    "finishing_hooks",
    "hear_out_the_silent",
    "hook_not_run",
    "log_dir",
    "prune",
    "recover_now",
    "request_stop",
    "resolve_workers",
    "start_workers",
    "wait_stopped",
]
