"""Fixtures shared by every test: a fresh database file and a fixed clock.

Each test gets its own SQLite file under ``tmp_path`` (the models are bound
to it by ``open_database``), so tests never share state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from queuectl import db

T0 = 1_795_000_000.0  # 2026-11-18T08:26:40Z: a fixed "now" for tests that pass the clock


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Iterator[str]:
    """A private database file for this test, also exported as ``QUEUECTL_DB``."""
    path = str(tmp_path / "queuectl.db")
    monkeypatch.setenv("QUEUECTL_DB", path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    yield path
    db.close_database()


@pytest.fixture
def opened(db_path) -> str:
    """The test database, opened and bound to the models."""
    db.open_database(db_path)
    return db_path


@pytest.fixture(autouse=True)
def _no_inherited_database(monkeypatch) -> None:
    """A developer's own ``QUEUECTL_DB`` must never be touched by the tests."""
    if "QUEUECTL_DB" in os.environ:
        monkeypatch.delenv("QUEUECTL_DB")
