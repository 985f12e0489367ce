"""queuectl's benchmark: throughput, enqueue, latency, idle, dashboard and scale, in one run.

    python tests/bench/run.py            # defaults: a few minutes
    python tests/bench/run.py --quick    # small N: a smoke run (under a minute or two)

Prints one Markdown table. Every figure that has a target is a ratio against a
baseline measured in the same run (the machine may be shared and noisy), and
figures at the headline setting (4 workers) are medians over ``--repeat`` runs,
interleaved with their baselines so both see the same noise.

PostgreSQL is measured when ``--pg-url`` (default: ``$QUEUECTL_BENCH_PG_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``) answers; each run gets a fresh
schema, dropped afterwards. Peers (task-spooler, huey) are skipped with a note
when they are not installed. Never collected by pytest (``norecursedirs``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peers
from dashboard import refresh_cost
from peewee import fn

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads
from queuectl.runtime import supervisor
from queuectl.store import db, transactions
from queuectl.store.models import Job, JobState, Run, Worker, database

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BIN = os.path.dirname(sys.executable)
QUEUECTL = shutil.which("queuectl", path=BIN) or "queuectl"


# --- the table ------------------------------------------------------------------------


@dataclass
class Table:
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        what: str,
        value: str,
        ratio: str = "",
        target: str = "",
        met: bool | None = None,
    ) -> None:
        status = "" if met is None else ("met" if met else "**missed**")
        self.rows.append((what, value, ratio, target, status))
        print(f"  {what}: {value} {ratio} {status}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", file=sys.stderr, flush=True)

    def render(self) -> str:
        header = ("Measurement", "Value", "Ratio", "Target", "")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(len(header))]

        def line(cells: tuple[str, ...]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(row) for row in self.rows]
        out += [f"\n- {note}" for note in self.notes]
        return "\n".join(out)


def rate(jobs: int, seconds: float) -> str:
    return f"{jobs / seconds:,.0f} jobs/s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


# --- databases ------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_location() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-q-") as tmp:
        yield os.path.join(tmp, "queuectl.db")
        db.close_database()


def pg_answers(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:  # any failure means "not measured here"; the note says so
        return False


@contextlib.contextmanager
def pg_location(url: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        db.close_database()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def db_bytes(location: str) -> tuple[int, int]:
    """Sizes of the database file and of its write-ahead log."""
    path = db.sqlite_path(location)
    assert path is not None
    sizes = [os.path.getsize(p) if os.path.exists(p) else 0 for p in (path, path + "-wal")]
    return sizes[0], sizes[1]


# --- queuectl end to end --------------------------------------------------------------


@contextlib.contextmanager
def workers_on(
    location: str, count: int, queues: tuple[str, ...] = ("default",), slots: int = 1
) -> Iterator[list[str]]:
    """``count`` detached workers (of ``slots`` each), registered and settled into their
    idle wait."""
    db.open_database(location)
    rows = supervisor.start_workers(location, count, queues, slots=slots)
    ids = [row.id for row in rows]
    time.sleep(0.5)
    try:
        yield ids
    finally:
        supervisor.request_stop(ids)
        left = supervisor.wait_stopped(ids, 30)
        if left:
            supervisor.request_stop(left, force=True)
            supervisor.wait_stopped(left, 10)


def _unfinished() -> bool:
    return (
        Job.select(Job.id)
        .where(Job.state.in_([JobState.PENDING.value, JobState.PROCESSING.value, "failed"]))
        .exists()
    )


@dataclass
class Cpu:
    """CPU seconds per job: of the queue's own processes, and of the jobs they ran."""

    queue: float
    jobs: float
    bystanders: float = 0.0
    """CPU seconds, in all, of the ``bystanders`` processes while the jobs ran."""

    @property
    def total(self) -> float:
        return self.queue + self.jobs


def _process_cpu(pids: list[int]) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of these processes, from /proc (Linux)."""
    own = children = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        own += (int(fields[11]) + int(fields[12])) / tick
        children += (int(fields[13]) + int(fields[14])) / tick
    return own, children


def queuectl_e2e(
    location: str,
    jobs: int,
    workers: int,
    command: str,
    bystanders: Sequence[int] = (),
    slots: int = 1,
) -> tuple[float, Cpu]:
    """Bulk-enqueue ``jobs`` onto ``workers`` idle workers; seconds to the last finish.

    Also the CPU the workers spent, and the CPU of the jobs they ran (their
    reaped children), per job: noisy neighbours move wall times far more than
    these; and what the ``bystanders`` (other processes' pids) spent meanwhile.
    """
    with workers_on(location, workers, slots=slots) as ids:
        pids = [row.pid for row in Worker.select(Worker.pid).where(Worker.id.in_(ids))]
        before = _process_cpu(pids)
        watched_before = _process_cpu(list(bystanders))[0]
        specs = [JobSpec(command=command) for _ in range(jobs)]
        start = time.time()
        enqueuing.enqueue_many(specs)
        while _unfinished():
            time.sleep(0.05)
        after = _process_cpu(pids)
        watched = _process_cpu(list(bystanders))[0] - watched_before
        end = Job.select(Job.finished_at).order_by(Job.finished_at.desc()).scalar()
        done = reads.counts()["completed"]
    if done != jobs:
        raise RuntimeError(f"only {done} of {jobs} jobs completed")
    cpu = Cpu((after[0] - before[0]) / jobs, (after[1] - before[1]) / jobs, watched)
    return end - start, cpu


def settled() -> None:
    """Write out what the last measurement left dirty before the next one starts.

    Each drain leaves megabytes of database pages for the kernel to write back, and
    that writeback ran into whatever came next: with one build measured twice in a
    row, the second drain of 4 workers took 0.66× xargs where the first took 0.72×
    (``builds.py``). Called outside every timed region.
    """
    os.sync()


# --- command timings ------------------------------------------------------------------


def interleaved(commands: dict[str, list[str]], rounds: int, env: dict | None = None) -> dict:
    """Median wall time of each command, run in turn ``rounds`` times (same noise for all)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


# --- the sections ---------------------------------------------------------------------


@dataclass
class Settings:
    jobs: int
    workers: list[int]
    repeat: int
    bulk: int
    latency_jobs: int
    cli_rounds: int
    dash_sizes: list[int]
    scale: list[int]
    pg_backlog: list[int]
    pg_url: str | None


Backend = tuple[str, Callable[[], contextlib.AbstractContextManager[str]]]


def backends(s: Settings) -> list[Backend]:
    """SQLite, and PostgreSQL when a server answered at start."""
    found: list[Backend] = [("SQLite", sqlite_location)]
    pg_url = s.pg_url
    if pg_url:
        found.append(("PostgreSQL", lambda: pg_location(pg_url)))
    return found


def throughput(t: Table, s: Settings) -> None:
    skipped: set[str] = set()
    for command in ("true", "sleep 0.01"):
        for workers in s.workers:
            repeats = s.repeat if workers == 4 else 1
            samples: dict[str, list[float]] = {}
            cpu: dict[str, list[Cpu]] = {}
            for _ in range(repeats):
                settled()
                seconds, xargs_cpu = peers.xargs_limit(s.jobs, workers, command)
                samples.setdefault("xargs", []).append(seconds)
                cpu.setdefault("xargs", []).append(Cpu(0.0, xargs_cpu / s.jobs))
                for name, make in backends(s):
                    with make() as location:
                        settled()
                        seconds, used = queuectl_e2e(location, s.jobs, workers, command)
                    samples.setdefault(name, []).append(seconds)
                    cpu.setdefault(name, []).append(used)
                    # The same concurrency from one worker with slots, and at 4 from
                    # two workers of two slots each.
                    layouts = {"slots": (1, workers)} if workers > 1 else {}
                    if workers == 4:
                        layouts["2x2"] = (2, 2)
                    for layout, (count, slots) in layouts.items():
                        with make() as location:
                            settled()
                            seconds, used = queuectl_e2e(
                                location, s.jobs, count, command, slots=slots
                            )
                        samples.setdefault(f"{name} {layout}", []).append(seconds)
                        cpu.setdefault(f"{name} {layout}", []).append(used)
                for name, peer in (
                    ("task-spooler", peers.task_spooler),
                    ("huey", peers.huey_sqlite),
                ):
                    if name in skipped:
                        continue
                    try:
                        settled()
                        seconds = peer(s.jobs, workers, command)
                    except peers.Skip as exc:
                        skipped.add(name)
                        t.note(f"{name} skipped: {exc}")
                        continue
                    # Only now: a peer skipped on its first try must leave no empty list.
                    samples.setdefault(name, []).append(seconds)
            _report_throughput(t, s, command, workers, repeats, samples)
            if workers == 4:
                _report_cpu(t, s, command, cpu)


LAYOUTS = tuple(
    f"{backend}{layout}"
    for backend in ("SQLite", "PostgreSQL")
    for layout in ("", " slots", " 2x2")
)
"""The queuectl rows of a throughput figure: one-job workers, one worker with a slot per
job at once, and (at 4) two workers of two slots."""


def _report_throughput(
    t: Table, s: Settings, command: str, workers: int, repeats: int, samples: dict
) -> None:
    med = {name: statistics.median(values) for name, values in samples.items()}
    limit = s.jobs / med["xargs"]
    suffix = f" (median of {repeats})" if repeats > 1 else ""
    label = f"`{command}` x{s.jobs}, {workers}w"
    t.add(f"{label}: xargs -P{workers} (the limit){suffix}", rate(s.jobs, med["xargs"]))
    peer_rates = {n: s.jobs / med[n] for n in ("task-spooler", "huey") if n in med}
    for name in LAYOUTS:
        if name not in med:
            continue
        mine = s.jobs / med[name]
        ratio = f"{mine / limit:.2f}x limit"
        target, met = "", None
        if workers == 4 and command == "true":
            target = "≥0.8x limit, ≥1.5x peers"
            met = mine >= 0.8 * limit and all(mine >= 1.5 * r for r in peer_rates.values())
            ratio += "".join(f", {mine / r:.2f}x {n}" for n, r in peer_rates.items())
        elif workers == 4:
            target, met = "≥0.95x limit", mine >= 0.95 * limit
        # PostgreSQL against SQLite in the same layout (target: within 0.8x at 4).
        sqlite = med.get(name.replace("PostgreSQL", "SQLite")) if "Postgre" in name else None
        if sqlite is not None:
            ratio += f", {sqlite / med[name]:.2f}x SQLite"
            if workers == 4:
                target += ", ≥0.8x SQLite"
                met = bool(met) and sqlite / med[name] >= 0.8
        if name.endswith(" slots"):
            what = f"{name.split()[0]}, 1 worker --slots {workers}"
        elif name.endswith(" 2x2"):
            what = f"{name.split()[0]}, 2 workers --slots 2"
        else:
            what = f"{name}, {workers} worker{'s' if workers > 1 else ''}"
        t.add(f"{label}: queuectl {what}{suffix}", rate(s.jobs, med[name]), ratio, target, met)
    for name, value in peer_rates.items():
        t.add(f"{label}: {name}{suffix}", f"{value:,.0f} jobs/s", f"{value / limit:.2f}x limit")


def _report_cpu(t: Table, s: Settings, command: str, cpu: dict[str, list[Cpu]]) -> None:
    """CPU per job, medians: what each job costs the machine, whatever the neighbours do."""

    def med(name: str, part: Callable[[Cpu], float]) -> float:
        return statistics.median(part(sample) for sample in cpu[name]) * 1000

    limit = med("xargs", lambda c: c.total)
    parts = [f"xargs {limit:.2f} ms (xargs and its shells)"]
    for name in LAYOUTS:
        if name in cpu:
            total = med(name, lambda c: c.total)
            parts.append(
                f"{name} {total:.2f} ms (workers {med(name, lambda c: c.queue):.2f}"
                f" + jobs {med(name, lambda c: c.jobs):.2f}; {limit / total:.2f}x)"
            )
    note = " PostgreSQL's own server CPU is not counted." if "PostgreSQL" in cpu else ""
    t.add(f"`{command}` x{s.jobs}, 4w: CPU per job", "; ".join(parts) + note)


def enqueue_costs(t: Table, s: Settings) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-enq-") as tmp:
        path = os.path.join(tmp, "q.db")
        env = {**os.environ, "QUEUECTL_DB": path}
        spec_file = os.path.join(tmp, "jobs.jsonl")
        with open(spec_file, "w") as handle:
            handle.writelines(json.dumps({"command": f"echo {i}"}) + "\n" for i in range(s.bulk))
        subprocess.run([QUEUECTL, "status"], env=env, check=True, capture_output=True)
        walls = []
        for _ in range(s.repeat):
            start = time.perf_counter()
            subprocess.run(
                [QUEUECTL, "enqueue", "--file", spec_file], env=env, check=True, capture_output=True
            )
            walls.append(time.perf_counter() - start)
        wall = statistics.median(walls)
        t.add(
            f"bulk `enqueue --file`, {s.bulk:,} jobs (CLI wall, start-up included)",
            rate(s.bulk, wall),
            "",
            "≥25,000 jobs/s",
            s.bulk / wall >= 25_000,
        )
        py = sys.executable
        med = interleaved(
            {
                "pass": [py, "-c", "pass"],
                "imports": [py, "-c", "import click, peewee"],
                "enqueue": [QUEUECTL, "enqueue", '{"command": "true"}'],
            },
            s.cli_rounds,
            env,
        )
        t.add(f"`python -c pass` (median of {s.cli_rounds})", ms(med["pass"]))
        t.add('`python -c "import click, peewee"`', ms(med["imports"]))
        ratio = med["enqueue"] / med["imports"]
        t.add(
            "one `queuectl enqueue` CLI call",
            ms(med["enqueue"]),
            f"{ratio:.2f}x imports, {med['enqueue'] / med['pass']:.1f}x pass",
            "≤1.25x imports",
            ratio <= 1.25,
        )


def latency(t: Table, s: Settings) -> None:
    for name, make in backends(s):
        with make() as location, workers_on(location, 1):
            to_claim, to_process = _start_delays(s.latency_jobs)
        what = f"enqueue → start on an idle worker, {name}"
        p50, p95 = _percentile(to_process, 0.5), _percentile(to_process, 0.95)
        t.add(f"{what}, p50 ({len(to_process)} jobs)", ms(p50), "", "<50 ms", p50 < 0.050)
        t.add(f"{what}, p95", ms(p95), "", "<150 ms", p95 < 0.150)
        t.add(
            f"{what}: to the claim's stamp, p50 / p95",
            f"{ms(_percentile(to_claim, 0.5))} / {ms(_percentile(to_claim, 0.95))}",
            "the figure of earlier runs",
        )


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))]


def _start_delays(jobs: int) -> tuple[list[float], list[float]]:
    """Seconds from each job's enqueue to its claim and to its process running, each
    sorted; one job at a time.

    The job prints the clock as it starts (``date``), so the second figure holds
    all the worker does first: its wake, the claim's round trips, the spawn. The
    first is the job's ``started_at``, the clock the claim stamps before its
    statements run (what earlier runs reported).
    """
    to_claim, to_process = [], []
    for _ in range(jobs):
        time.sleep(0.1 + secrets.randbelow(100) / 1000)  # idle again, at a random phase
        job_id = enqueuing.enqueue(JobSpec(command="date +%s.%N")).id
        while True:
            job = Job.get_by_id(job_id)
            if job.state == JobState.COMPLETED:
                break
            assert job.state in (JobState.PENDING, JobState.PROCESSING), job.state
            time.sleep(0.002)
        to_claim.append(job.started_at - job.created_at)
        to_process.append(float(job.output) - job.created_at)
    return sorted(to_claim), sorted(to_process)


IDLE_SHARE = 0.15
"""Of a core, for a worker idle on another queue while others drain: one look per
25 ms, each a ``data_version`` read and the worker's claim check, costs about 8%;
a waiter woken by every commit cost 33%."""


def idle(t: Table, s: Settings) -> None:
    """What idle workers on another queue cost a drain (every commit wakes them)."""
    jobs = 3 * s.jobs
    alone: list[float] = []
    beside: list[float] = []
    shares: list[float] = []
    for _ in range(s.repeat):
        with sqlite_location() as location:
            alone.append(queuectl_e2e(location, jobs, 4, "true")[0])
        with sqlite_location() as location, workers_on(location, 2, ("other",)) as idle_ids:
            pids = [row.pid for row in Worker.select(Worker.pid).where(Worker.id.in_(idle_ids))]
            seconds, cpu = queuectl_e2e(location, jobs, 4, "true", bystanders=pids)
        beside.append(seconds)
        shares.append(cpu.bystanders / len(pids) / seconds)
    share = statistics.median(shares)
    ratio = statistics.median(alone) / statistics.median(beside)
    t.add(
        f"2 workers idle on another queue while 4 drain {jobs:,} `true` jobs (median of"
        f" {s.repeat})",
        f"{share:.1%} of a core each",
        f"the drain at {ratio:.2f}x its rate alone",
        f"≤{IDLE_SHARE:.0%} of a core",
        share <= IDLE_SHARE,
    )


def dashboard(t: Table, s: Settings) -> None:
    with sqlite_location() as location:
        db.open_database(location)
        have = 0
        for size in s.dash_sizes:
            _fill(size - have)
            have = size
            settled()  # the fill's pages written out, not during the refreshes measured
            cost = refresh_cost(location)
            target = "<50 ms" if size == max(s.dash_sizes) else ""
            t.add(
                f"dashboard refresh, {size:,} jobs, steady "
                f"(query {ms(cost.steady_query)} + diff {ms(cost.steady_diff)})",
                ms(cost.steady),
                "",
                target,
                cost.steady < 0.050 if target else None,
            )
            t.add(
                f"dashboard refresh, {size:,} jobs, 50 new "
                f"(query {ms(cost.churn_query)} + diff {ms(cost.churn_diff)})",
                ms(cost.churn),
                "",
                target,
                cost.churn < 0.050 if target else None,
            )


def _fill(count: int) -> None:
    """Add ``count`` jobs in a realistic mix: mostly completed, some waiting, a few dead."""
    for start in range(0, count, 20_000):
        chunk = min(20_000, count - start)
        enqueuing.enqueue_many([JobSpec(command=f"echo {i}") for i in range(chunk)], cwd="/")
    with transactions.write_transaction():
        database.execute_sql(
            "UPDATE queuectl_job SET state = CASE abs(random()) % 20 "
            "WHEN 0 THEN 'pending' WHEN 1 THEN 'dead' WHEN 2 THEN 'failed' ELSE 'completed' END "
            "WHERE state = 'pending'"
        )


WAL_BOUND = 64 * 10**6
"""Sixteen times the log SQLite checkpoints at (1,000 pages of 4 KiB). A log that
is reused stays near that: 4 MB at 10k jobs, 22-29 MB at 100k (a reader's
snapshot can hold a restart back for a while). One that grows with the jobs (a
checkpoint that never completes, so the log never restarts) reached 4 GB."""


def scale(t: Table, s: Settings) -> None:
    empty_times = None
    first = None
    for jobs in s.scale:
        with sqlite_location() as location:
            seconds, _cpu = queuectl_e2e(location, jobs, 4, "true")
            size, wal = db_bytes(location)
            note = ""
            if first is None:
                first = (jobs, seconds)
            else:
                note = f"{_growth(first, jobs, seconds):.2f}x the time per job at {first[0]:,}"
            t.add(
                f"scale: {jobs:,} `true` jobs, 4w, SQLite",
                f"{rate(jobs, seconds)}, {seconds:.1f} s, DB {size / 1e6:.1f} MB"
                f" + WAL {wal / 1e6:.0f} MB",
                note,
                f"WAL ≤{WAL_BOUND // 10**6} MB",
                wal <= WAL_BOUND,
            )
            if jobs == max(s.scale):
                empty_times, full_times = _cli_reads(location, s.cli_rounds)
    assert empty_times is not None
    if s.pg_url:
        _pg_backlog(t, s.pg_url, s.pg_backlog)
    for command in ("status", "list"):
        ratio = full_times[command] / empty_times[command]
        target, met = ("≤1.25x empty", ratio <= 1.25) if command == "status" else ("", None)
        t.add(
            f"`queuectl {command}` at {max(s.scale):,} jobs (empty: {ms(empty_times[command])})",
            ms(full_times[command]),
            f"{ratio:.2f}x empty",
            target,
            met,
        )


def _growth(first: tuple[int, float], jobs: int, seconds: float) -> float:
    """The time per job of ``jobs`` in ``seconds``, against the first, smaller run's."""
    return (seconds / jobs) / (first[1] / first[0])


PG_BACKLOG_BOUND = 1.5
"""Most the time per job may grow from a small to a large waiting backlog on PostgreSQL."""


def _pg_backlog(t: Table, url: str, sizes: list[int]) -> None:
    """PostgreSQL draining a backlog that was waiting before the workers started, with the
    planner's statistics taken (as a long-lived database has them), and the largest also
    with none yet (a bulk enqueue into a new schema): either way the claim must read its
    index, not gather and sort every waiting job (which cost 4.4x at 20,000 analyzed,
    and 6-12x fewer jobs a second at 24,000 without statistics)."""
    first = None
    for jobs, analyzed in [*((size, True) for size in sizes), (max(sizes), False)]:
        with pg_location(url) as location:
            db.open_database(location)
            enqueuing.enqueue_many([JobSpec(command="true") for _ in range(jobs)])
            if analyzed:
                database.execute_sql("ANALYZE queuectl_job")
            with workers_on(location, 4):
                while _unfinished():
                    time.sleep(0.05)
            started, ended = (
                Run.select(fn.MIN(Run.started_at), fn.MAX(Run.finished_at)).tuples().get()
            )
        seconds = ended - started
        note, target, met = "", "", None
        if first is None:
            first = (jobs, seconds)
        else:
            growth = _growth(first, jobs, seconds)
            note = f"{growth:.2f}x the time per job at {first[0]:,}"
            target, met = f"≤{PG_BACKLOG_BOUND}x", growth <= PG_BACKLOG_BOUND
        t.add(
            f"scale: {jobs:,} `true` jobs waiting, 4w, PostgreSQL"
            f" ({'analyzed' if analyzed else 'no statistics yet'})",
            f"{rate(jobs, seconds)}, {seconds:.1f} s",
            note,
            target,
            met,
        )


def _cli_reads(full: str, rounds: int) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-empty-") as tmp:
        empty = os.path.join(tmp, "q.db")
        commands = {}
        for name, location in (("empty", empty), ("full", full)):
            for command in ("status", "list"):
                commands[f"{name} {command}"] = [QUEUECTL, "--db", location, command]
        subprocess.run([QUEUECTL, "--db", empty, "status"], check=True, capture_output=True)
        med = interleaved(commands, rounds)
    return (
        {c: med[f"empty {c}"] for c in ("status", "list")},
        {c: med[f"full {c}"] for c in ("status", "list")},
    )


def stats_cost(t: Table, s: Settings) -> None:
    """``queuectl stats`` over a window holding every run of ``max(s.scale)`` jobs."""
    import random

    from queuectl.lifecycle.stats import window_stats

    jobs = max(s.scale)
    for name, make in backends(s):
        with make() as location:
            db.open_database(location)
            enqueuing.enqueue_many([JobSpec(command="true") for _ in range(jobs)], cwd="/")
            with transactions.write_transaction():  # 1 in 20 dead: the rest completed
                database.execute_sql(
                    "UPDATE queuectl_job SET state = CASE WHEN seq - (seq / 20) * 20 = 0"
                    " THEN 'dead' ELSE 'completed' END"
                )
            now = time.time()
            rows = []
            ids = [job_id for (job_id,) in Job.select(Job.id).tuples()]
            for job_id in ids:
                started = now - random.uniform(0, 3000)
                took = random.expovariate(2.0)
                outcome = random.choice(("succeeded",) * 17 + ("failed", "timed_out", "lost"))
                rows.append((job_id, started, started + took, took, outcome))
            rows.sort(key=lambda row: row[2])  # recorded as they finish, as workers do
            param = database.obj.param
            with transactions.write_transaction():
                database.obj.cursor().executemany(
                    "INSERT INTO queuectl_run (job_id, run, attempt, started_at, finished_at,"
                    " duration, outcome, output) VALUES ("
                    f"{param}, 1, 1, {param}, {param}, {param}, {param}, '')",
                    rows,
                )
            samples = []
            for _ in range(s.cli_rounds):
                began = time.perf_counter()
                figures = window_stats(now - 3600, now=now)
                samples.append(time.perf_counter() - began)
            db.close_database()
            assert figures.total.completed + figures.total.failed_attempts == jobs
            cli = interleaved({"stats": [QUEUECTL, "--db", location, "stats"]}, s.cli_rounds)
            t.add(
                f"`stats` over {jobs:,} runs in the window, {name}",
                f"query {ms(statistics.median(samples))}, `queuectl stats` {ms(cli['stats'])}",
                f"median of {s.cli_rounds}",
            )


SECTIONS = {
    "throughput": throughput,
    "enqueue": enqueue_costs,
    "latency": latency,
    "idle": idle,
    "dashboard": dashboard,
    "scale": scale,
    "stats": stats_cost,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), help="repeatable")
    parser.add_argument("--jobs", type=int, help="jobs per throughput run")
    parser.add_argument("--workers", help="comma-separated worker counts (default 1,2,4,8)")
    parser.add_argument("--repeat", type=int, help="runs per figure at 4 workers (median)")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("QUEUECTL_BENCH_PG_URL", DEFAULT_PG),
        help="PostgreSQL server to measure too ('' to skip)",
    )
    args = parser.parse_args()
    quick = args.quick
    s = Settings(
        jobs=args.jobs or (300 if quick else 1000),
        workers=[int(w) for w in (args.workers or ("4" if quick else "1,2,4,8")).split(",")],
        repeat=args.repeat or (1 if quick else 5),
        bulk=5_000 if quick else 20_000,
        latency_jobs=20 if quick else 100,
        cli_rounds=5 if quick else 15,
        dash_sizes=[1_000, 10_000] if quick else [1_000, 10_000, 100_000],
        scale=[1_000, 5_000] if quick else [10_000, 100_000],
        pg_backlog=[500, 5_000] if quick else [1_000, 20_000],
        pg_url=args.pg_url or None,
    )
    os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="bench-xdg-"))
    t = Table()
    if s.pg_url and not pg_answers(s.pg_url):
        t.note(f"PostgreSQL not measured: no server answered at {s.pg_url}")
        s.pg_url = None
    started = time.time()
    load = os.getloadavg()[0]
    for name in args.only or list(SECTIONS):
        print(f"[{name}]", file=sys.stderr, flush=True)
        SECTIONS[name](t, s)
    t.note(
        f"{os.cpu_count()} CPUs, load average {load:.1f} at start and "
        f"{os.getloadavg()[0]:.1f} at the end; {time.time() - started:.0f} s in all"
    )
    print(t.render())


if __name__ == "__main__":
    main()
