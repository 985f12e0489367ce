"""CLI tests of the scripting contract: the same invoker as ``tests/test_cli.py``."""

from __future__ import annotations

import pytest

from tests.test_cli import _invoker


@pytest.fixture
def run(db_url):
    """Invoke the CLI on the test database (each backend); returns the click Result."""
    return _invoker()


@pytest.fixture
def run_sqlite(db_path):
    """Invoke the CLI on an SQLite file, for what only SQLite does."""
    return _invoker()
