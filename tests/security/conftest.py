"""A second local user (``nobody``) against root's queuectl: helpers for the security tests.

Who owns a file is what these tests are about, so they run as root and skip,
saying why, for anyone else. ``nobody`` acts in a forked child that drops to
its uid (``as_nobody``: the test's interpreter and queuectl are already loaded,
wherever the venv is), in folders under ``/tmp`` that it can reach
(``open_tmp``): pytest's own are 0700.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import cluster, pg_cluster

__all__ = ["cluster", "pg_cluster"]

NOBODY = pwd.getpwnam("nobody")

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root: the tests hand files to a second user (nobody) and act as it",
)


def as_nobody(action: Callable[[], object]) -> None:
    """Run ``action`` in a forked child as ``nobody``; fail the test if it raises."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            action()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the action as nobody failed (see stderr)"


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A root-owned 0755 folder under the sticky ``/tmp``: safe for root, reachable by nobody."""
    path = Path(tempfile.mkdtemp(prefix="queuectl-security-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def queuectl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``python -m queuectl ARGS`` as root, as a real process (``worker run`` included)."""
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
