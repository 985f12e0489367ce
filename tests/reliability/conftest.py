"""The reliability tests reuse the integration suite's real-process ``cluster`` fixture."""

from __future__ import annotations

from tests.integration.conftest import cluster

__all__ = ["cluster"]
