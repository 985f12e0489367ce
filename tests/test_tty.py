"""``"tty": true`` jobs run under a pseudo-terminal: programs that colour only on
terminals do, and the output is still one bounded tail with plain newlines."""

from __future__ import annotations

import json

from queuectl.store.models import Job
from tests.test_cli import _invoker
from tests.test_worker_loop import FakeClock, enqueue, make_worker

CHECK = (
    "python3 -c 'import os,sys; print(sys.stdout.isatty(), sys.stderr.isatty(), "
    "sys.stdin.isatty(), sys.stdout.isatty() and os.get_terminal_size().columns)'; "
    "printf '\\033[31mred\\033[0m\\n'"
)


def test_a_tty_job_sees_a_terminal_and_keeps_plain_newlines(opened):
    clock = FakeClock()
    tty_job = enqueue(CHECK, tty=True)
    pipe_job = enqueue(CHECK)
    worker = make_worker(clock)
    assert worker.step() and worker.step()
    tty_output = Job.get_by_id(tty_job).output
    assert tty_output == "True True False 120\n\x1b[31mred\x1b[0m\n"  # stdin stays /dev/null
    assert Job.get_by_id(pipe_job).output == "False False False False\n\x1b[31mred\x1b[0m\n"


def test_a_tty_job_keeps_only_the_tail_of_a_flood(opened):
    from queuectl.lifecycle import settings

    settings.set_value("output_limit", 4096)
    clock = FakeClock()
    job_id = enqueue("head -c 300000 /dev/zero | tr '\\0' x; echo; echo END", tty=True)
    worker = make_worker(clock)
    assert worker.step()
    job = Job.get_by_id(job_id)
    assert job.state == "completed" and job.output.endswith("x\nEND\n")
    assert len(job.output.encode()) <= 4096 and job.output_bytes == 300_000 + 5


def test_add_tty_and_the_json_key(db_url):
    run = _invoker()
    job_id = run("add", "--tty", "--", "ls", "--color=auto").stdout.strip()
    assert json.loads(run("show", job_id, "--json").stdout)["tty"] is True
    plain = run("enqueue", '{"command": "true"}').stdout.strip()
    assert json.loads(run("show", plain, "--json").stdout)["tty"] is False
    bad = run("enqueue", '{"command": "true", "tty": "yes"}', ok=False)
    assert bad.exit_code == 2 and '"tty" must be true or false (got a string)' in bad.stderr
