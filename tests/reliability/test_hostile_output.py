"""Jobs that print hostile bytes: stored capped, the worker's memory bounded, shown inert.

A real worker runs jobs that print terminal escapes (colour, cursor moves, a
clear screen, OSC 52 clipboard writes, window titles, a C1 CSI), Rich markup,
invalid UTF-8, NUL bytes and 50 MB of text. ``show``, ``logs`` and ``list``
(real processes, stdout a pipe as in a script) must print none of the bytes a
terminal acts on and show the markup as text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from queuectl.cli import cli
from queuectl.lifecycle import settings
from queuectl.store import db
from queuectl.store.models import JobState
from tests.integration.conftest import Cluster
from tests.polling import wait_until

pytestmark = pytest.mark.integration

OUTPUT_LIMIT = 65536
BIG = 50 * 1024 * 1024
ESCAPES = (
    "\x1b[31mred\x1b[0m \x1b[2J\x1b[H\x1b[10A\x1b[?1049h"  # colour, clear, home, up, alt screen
    "\x1b]52;c;aGVsbG8=\x07\x1b]0;pwned title\x07\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"
    "\u009b2J\u009d0;c1 title\u009c\x7f"  # C1 CSI/OSC/ST and DEL
)
# Bytes and characters that make a terminal do something instead of showing text.
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _assert_inert(stdout: bytes, what: str) -> str:
    text = stdout.decode("utf-8")  # strict: what we print is always valid UTF-8
    found = ACTIVE.findall(text)
    assert not found, f"{what} printed active characters {found[:5]!r}"
    return text


def _cli_bytes(cluster: Cluster, *args: str) -> bytes:
    return _cli(cluster, *args).stdout


def _cli_stderr(cluster: Cluster, *args: str) -> bytes:
    return _cli(cluster, *args).stderr


REAL_PROCESS = {("show", "escapes"), ("logs", "escapes"), ("list",)}
"""Calls made as real processes (stdout a pipe, as in a script); the rest in-process."""


def _cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[bytes]:
    if args in REAL_PROCESS:
        result = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            env={**cluster.env, "COLUMNS": "200"},
            capture_output=True,
            timeout=60,
            cwd=cluster.workdir,
        )
    else:
        invoked = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
        db.close_database()
        result = subprocess.CompletedProcess(
            args, invoked.exit_code, invoked.stdout_bytes, invoked.stderr_bytes
        )
        assert invoked.exception is None or isinstance(invoked.exception, SystemExit)
    # logs --follow exits 1 for a job that ended dead: bad-cwd, whose cwd vanished.
    expected = 1 if args[:2] == ("logs", "--follow") and "bad-cwd" in args else 0
    assert result.returncode == expected, result.stderr
    assert b"Traceback" not in result.stderr
    return result


def test_hostile_output_is_capped_bounded_and_shown_inert(cluster: Cluster):
    settings.set_value("output_limit", OUTPUT_LIMIT)
    [proc] = cluster.start_workers(1)
    baseline = _vm_hwm_kib(proc.pid)
    escapes = cluster.enqueue(f"printf '%s\\n' '{ESCAPES}'", id="escapes")
    markup = cluster.enqueue(
        "echo '[bold red]markup[/bold red] [link=http://evil]x[/link] :skull:'", id="markup"
    )
    binary = cluster.enqueue(r"printf 'a\377\376b\000c\302\233d\n'", id="binary")
    flood = cluster.enqueue(f"yes 'line of output' | head -c {BIG}; echo; echo the-end", id="flood")
    # The worker's own error message quotes the cwd: hostile text from another route. It
    # must exist at enqueue (SQLite refuses it otherwise) and vanish before the job runs.
    vanishing = os.path.join(cluster.workdir, "gone", ESCAPES)
    os.makedirs(vanishing)
    bad_cwd = cluster.enqueue("true", id="bad-cwd", cwd=vanishing, delay=2, max_retries=3)
    shutil.rmtree(os.path.join(cluster.workdir, "gone"))
    for job_id in (escapes, markup, binary, flood):
        cluster.wait_state(job_id, JobState.COMPLETED, timeout=60)
    cluster.wait_state(bad_cwd, JobState.DEAD, timeout=60)
    assert cluster.job(bad_cwd).attempts == 1  # no retry can find a vanished cwd
    peak = _vm_hwm_kib(proc.pid)
    print(f"worker VmHWM: {baseline} KiB at start, {peak} KiB after {BIG >> 20} MB of output")
    # The tail buffer holds at most 2 * output_limit; allow generous slack for
    # the interpreter and SQLite's cache, far below the 50 MB printed.
    assert peak - baseline < 24 * 1024, (baseline, peak)

    stored = cluster.job(flood).output
    assert len(stored.encode()) <= OUTPUT_LIMIT
    assert stored.endswith("\nthe-end\n") and "line of output\n" in stored
    assert "\x00" not in cluster.job(binary).output

    for job_id in (escapes, markup, binary, flood, bad_cwd):
        _assert_inert(_cli_bytes(cluster, "show", job_id), f"show {job_id}")
        _assert_inert(_cli_bytes(cluster, "logs", job_id), f"logs {job_id}")
        _assert_inert(_cli_bytes(cluster, "logs", "--follow", job_id), f"logs -f {job_id}")
        follow_err = _cli_stderr(cluster, "logs", "--follow", job_id)
        _assert_inert(follow_err.replace(b"\n", b" "), f"logs -f {job_id} (stderr)")
        shown = _cli_bytes(cluster, "show", job_id, "--json")
        _assert_inert(shown.replace(b"\n", b" "), f"show {job_id} --json")
        json.loads(shown)  # escaped, still JSON
    listed = _assert_inert(_cli_bytes(cluster, "list"), "list")
    _assert_inert(_cli_bytes(cluster, "dlq", "list"), "dlq list")
    assert "[bold red]markup" in listed
    for args in (("show", markup), ("logs", markup)):
        text = _cli_bytes(cluster, *args).decode()
        assert "[bold red]markup[/bold red] [link=http://evil]x[/link] :skull:" in text
        assert "💀" not in text
    logs = _cli_bytes(cluster, "logs", escapes).decode()
    assert "␛[31mred" in logs and "pwned title" in logs  # shown, as text
    assert "the-end" in _cli_bytes(cluster, "logs", flood).decode()
    wait_until(lambda: proc.poll() is None, 1, "the worker to survive")


HOSTILE_ARGS = [
    ("show", ESCAPES),
    ("config", "set", "max_retries", ESCAPES),
    ("list", "--state", ESCAPES),
    ("--db", f"/proc/{ESCAPES}/x.db", "list"),
    ("--db", f"mongodb://{ESCAPES}/x", "list"),
]


@pytest.mark.parametrize("args", HOSTILE_ARGS, ids=lambda a: a[0])
def test_error_lines_and_status_are_inert_whatever_the_arguments(db_path, args):
    """Error messages quote what the user passed (ids, values, paths): never raw."""
    from tests.test_cli import _invoker

    db.open_database(db_path)  # a database to look in: `show` on none would add a note first
    db.close_database()
    result = _invoker()(*args, ok=False)
    assert result.exit_code in (1, 2)
    line = _assert_inert(result.stderr.encode().replace(b"\n", b" "), " ".join(args))
    assert line.startswith("Error: ") and line.count("\n") == 0


def test_status_shows_a_hostile_database_path_inert(tmp_path, monkeypatch):
    """From the environment (a folder named so): read, and shown inert. Typed as ``--db``
    it is a usage error, shown inert too (a stray byte is more likely a mistake)."""
    from tests.test_cli import _invoker

    folder = tmp_path / f"db{ESCAPES[:20]}"
    monkeypatch.setenv("QUEUECTL_DB", str(folder / "q.db"))
    result = _invoker()("status")
    _assert_inert(result.stdout.encode().replace(b"\n", b" "), "status")
    refused = _invoker()("--db", str(folder / "q.db"), "status", ok=False)
    assert refused.exit_code == 2 and refused.stdout == ""
    _assert_inert(refused.stderr.encode().replace(b"\n", b" "), "status --db")
