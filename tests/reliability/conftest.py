"""The reliability tests reuse the integration suite's real-process clusters.

``cluster`` runs on each backend. ``sqlite_cluster`` is for the two heavy
tests whose subject is SQLite itself (locking under contention) or whose
PostgreSQL twin already exists (``tests/integration/test_postgres.py`` kills a
whole host under 2,000 jobs), so the suite stays within its time budget.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Cluster, cluster, running_cluster

__all__ = ["cluster", "sqlite_cluster"]


@pytest.fixture
def sqlite_cluster(db_path: str, tmp_path) -> Iterator[Cluster]:
    """Workers on a fresh SQLite file."""
    with running_cluster(db_path, tmp_path) as made:
        yield made
