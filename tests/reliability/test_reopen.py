"""Opening the database a second time in one process keeps the first connection's locks.

``queuectl tui`` opened the file twice (the CLI, then ``make_app``), and the second
open's safety check read the file's header with Python's ``open``. Closing that
handle dropped every POSIX lock the process held on the file, including the
shared lock SQLite keeps in WAL mode, so the next CLI command to exit believed it
was the last connection and deleted the write-ahead log under the dashboard: its
writes vanished and the file was left corrupt.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue
from queuectl.store import db
from queuectl.store.models import Job


def test_a_second_open_keeps_the_wal_of_a_live_connection(db_path: str) -> None:
    db.open_database(db_path)
    db.open_database(db_path)  # as `queuectl tui` does: the CLI, then make_app
    enqueue.enqueue(JobSpec(command="true", id="mine"), now=1.0, cwd="/")
    assert os.path.exists(db_path + "-wal")
    # Another process opens, reads and closes: as the last connection it would
    # checkpoint and delete the log, if ours held no lock.
    reader = (
        f"import sqlite3; sqlite3.connect({db_path!r})"
        ".execute('SELECT count(*) FROM queuectl_job').fetchall()"
    )
    subprocess.run([sys.executable, "-c", reader], check=True)
    assert os.path.exists(db_path + "-wal"), "another process deleted the log under us"
    writer = sqlite3.connect(db_path)
    writer.execute("UPDATE queuectl_job SET priority = 7 WHERE id = 'mine'")
    writer.commit()
    writer.close()
    assert Job.get_by_id("mine").priority == 7  # and we still see what others write
    db.close_database()
    check = sqlite3.connect(db_path)
    assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check.close()
