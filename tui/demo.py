"""A realistic, fully deterministic queue for screenshots and snapshot tests.

Everything is placed relative to a given ``now`` (the app gets the same frozen
clock), so ages, due times, heartbeats and the sparkline render identically
on every run.
"""

from __future__ import annotations

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue
from queuectl.store.models import Job, Run, Worker

_COMMANDS = [
    "pg_dump app | gzip > /backups/app-nightly.sql.gz",
    "python manage.py send_digest --batch 42",
    "rsync -a /srv/media/ backup@nas:/media/",
    "curl -fsS -X POST https://hooks.example.com/deploy",
    "convert /uploads/in/7731.png -resize 800x /uploads/out/7731.jpg",
    "./bin/reindex --shard 3",
    "python -m reports.monthly --month 2026-10",
    "make -C /srv/site build",
]


def seed_demo(now: float) -> None:
    """Fill the open database with jobs in every state, their runs, and workers."""
    specs = []
    for index in range(18):
        specs.append(JobSpec(command=_COMMANDS[index % len(_COMMANDS)], id=f"job-{index:03d}"))
    for index, spec in enumerate(specs):
        enqueue.enqueue_many([spec], now=now - 1800 + index * 60, cwd="/srv/app")

    def job(job_id: str, **fields: object) -> None:
        Job.update(**fields).where(Job.id == job_id).execute()

    def run(job_id: str, attempt: int, start: float, end: float | None, **fields: object) -> None:
        Run.insert(
            job=job_id,
            run=attempt,
            attempt=attempt,
            worker_id=fields.pop("worker_id", "w-7f3a"),
            host="build-01",
            started_at=start,
            finished_at=end,
            duration=None if end is None else end - start,
            **fields,
        ).execute()

    # Completed jobs, finishing across the last five minutes (the sparkline).
    for index in range(8):
        job_id = f"job-{index:03d}"
        end = now - 280 + index * 33
        job(
            job_id,
            state="completed",
            attempts=1,
            started_at=end - 4 - index,
            finished_at=end,
            exit_code=0,
            worker_id="w-7f3a",
        )
        run(job_id, 1, end - 4 - index, end, outcome="succeeded", exit_code=0, output="ok\n")
    # Two running now, with live output.
    for job_id, worker in (("job-008", "w-7f3a"), ("job-009", "w-91c2")):
        job(job_id, state="processing", attempts=1, started_at=now - 42, worker_id=worker)
        run(
            job_id,
            1,
            now - 42,
            None,
            worker_id=worker,
            output="sending 1/3\nsending 2/3\n\x1b[33mwarning: slow response\x1b[0m\n",
        )
    # One failed, retrying later; three dead in the DLQ; one cancelled.
    job(
        "job-010",
        state="failed",
        attempts=1,
        run_at=now + 118,
        exit_code=7,
        last_error="exit code 7",
    )
    run(
        "job-010",
        1,
        now - 130,
        now - 122,
        outcome="failed",
        exit_code=7,
        output="curl: (7) Failed to connect to hooks.example.com port 443\n",
    )
    for job_id, code, error in (
        ("job-011", 1, "exit code 1: convert: unable to open image '/uploads/in/7731.png'"),
        ("job-012", 124, "timed out after 5m"),
        ("job-013", 137, "worker w-0d4e was lost (no heartbeat for 30s)"),
    ):
        job(
            job_id,
            state="dead",
            attempts=4,
            exit_code=code,
            last_error=error,
            finished_at=now - 600,
            started_at=now - 660,
        )
        for attempt in range(1, 5):
            start = now - 2000 + attempt * 300
            run(
                job_id,
                attempt,
                start,
                start + 12,
                outcome="failed",
                exit_code=code,
                error=error,
                output=f"attempt {attempt}\n{error}\n",
            )
    job("job-014", state="cancelled", finished_at=now - 900, last_error="cancelled by user")
    job("job-015", priority=10)
    job("job-016", run_at=now + 3600)

    for worker_id, state, current, beat, done, failed in (
        ("w-7f3a", "busy", "job-008", 1.5, 412, 3),
        ("w-91c2", "busy", "job-009", 0.8, 398, 5),
        ("w-c5e0", "idle", None, 2.2, 377, 1),
        ("w-0d4e", "idle", None, 95.0, 120, 9),
        ("w-5b17", "stopped", None, 1200.0, 1024, 12),
    ):
        Worker.insert(
            id=worker_id,
            pid=31000 + done,
            host="build-01" if worker_id != "w-0d4e" else "build-02",
            queues="default",
            state=state,
            current_job=current,
            started_at=now - 86400,
            heartbeat_at=now - beat,
            stopped_at=now - beat if state == "stopped" else None,
            jobs_done=done,
            jobs_failed=failed,
        ).execute()


_HISTORY_QUEUES: tuple[tuple[str, str, int, float, int], ...] = (
    # queue, command, jobs in the last hour, typical seconds, one in N fails
    ("default", "python manage.py send_digest --batch 42", 72, 3.0, 24),
    ("images", "convert /uploads/in/7731.png -resize 800x /uploads/out/7731.jpg", 40, 0.8, 6),
    ("reports", "python -m reports.monthly --month 2026-10", 9, 95.0, 0),
)


def seed_history(now: float) -> None:
    """An hour of finished work on three queues, for the Metrics screen's pictures.

    Kept apart from ``seed_demo`` because these jobs would crowd the panes' pictures;
    deterministic (no random numbers) like everything here: durations and waits follow
    the job's index, the busiest minutes are the recent ones.
    """
    for queue, command, count, typical, fail_every in _HISTORY_QUEUES:
        for index in range(count):
            job_id = f"{queue[:3]}-h{index:03d}"
            ago = 3540 * (1 - (index / count) ** 0.7)  # denser towards now
            took = typical * (0.5 + ((index * 7) % 10) / 8)
            wait = 0.2 + ((index * 3) % 5) * 0.4
            failed = fail_every > 0 and index % fail_every == fail_every - 1
            end = now - ago
            start = end - took
            created = start - wait
            enqueue.enqueue_many([JobSpec(command=command, id=job_id, queue=queue)], now=created)
            Job.update(
                state="dead" if failed else "completed",
                attempts=1,
                started_at=start,
                finished_at=end,
                exit_code=1 if failed else 0,
                last_error="exit code 1" if failed else None,
                worker_id="w-7f3a",
            ).where(Job.id == job_id).execute()
            Run.insert(
                job=job_id,
                run=1,
                attempt=1,
                worker_id="w-7f3a",
                host="build-01",
                started_at=start,
                finished_at=end,
                duration=took,
                outcome="failed" if failed else "succeeded",
                exit_code=1 if failed else 0,
                output="",
            ).execute()


_DEMO_SCHEDULES: tuple[tuple[str, str, str, str], ...] = (
    # name, spec, zone, command
    ("nightly-backup", "30 2 * * *", "Europe/Berlin", "pg_dump app | gzip > /backups/nightly.gz"),
    ("ping", "@every 30s", "UTC", "curl -fsS https://status.example.com/ping"),
    ("weekday-report", "0 9 * * 1-5", "America/New_York", "python -m reports.daily"),
    ("cleanup", "@hourly", "UTC", "find /tmp/uploads -mtime +1 -delete"),
)


def seed_schedules(now: float) -> None:
    """Four schedules for the Schedules pane's pictures: one fired 15 s ago, one paused.

    Apart from ``seed_demo`` because a fire is a job, which would show in the panes'
    pictures; validated as ``queuectl cron add`` validates them.
    """
    from queuectl.lifecycle import schedules

    for name, spec, zone, command in _DEMO_SCHEDULES:
        change = schedules.validate(
            spec=spec, zone=zone, job=f'{{"command": "{command}"}}', cwd="/tmp"
        )
        schedules.add(name, change, now=now - 45)
    schedules.fire_due(now - 15)  # ping's tick of 15 s ago
    schedules.pause("weekday-report", now=now)
