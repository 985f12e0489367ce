"""Adding jobs from a directory deleted under the shell: fine when the job names its own
``cwd``, one clear line when it needs the current one."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import dump


@pytest.fixture
def in_a_deleted_directory(tmp_path, monkeypatch):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(FileNotFoundError):
        os.getcwd()


def test_a_job_with_its_own_cwd_is_added_from_a_deleted_directory(
    run_sqlite, db_path, in_a_deleted_directory, tmp_path
):
    """``os.getcwd()`` was called for every enqueue: ``Error: [Errno 2] No such file``."""
    where = str(tmp_path)
    added = run_sqlite("enqueue", json.dumps({"command": "true", "cwd": where}), "--json")
    assert json.loads(added.stdout)["cwd"] == where
    run_sqlite("add", "--cwd", where, "--", "true")
    run_sqlite("cron", "add", "c1", "@hourly", json.dumps({"command": "true", "cwd": where}))


@pytest.mark.parametrize(
    "args",
    [
        ("add", "--", "true"),
        ("enqueue", '{"command": "true"}'),
        ("add", "--cwd", "relative", "--", "true"),
        ("cron", "add", "c2", "@hourly", '{"command": "true"}'),
    ],
)
def test_a_job_that_needs_the_deleted_directory_is_one_line(
    run_sqlite, db_path, in_a_deleted_directory, args
):
    run_sqlite("add", "--cwd", "/", "--", "true")
    before = dump(db_path)
    result = run_sqlite(*args, ok=False)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: the current directory no longer exists: give the job a cwd (--cwd DIR),"
        " or run from a directory that exists\n"
    )
    assert dump(db_path) == before
