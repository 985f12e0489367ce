"""queuectl: a durable job queue for shell commands."""

from __future__ import annotations

__version__ = "0.1.0"
