"""Counts in sentences: ``1 job``, ``3 jobs``, never ``3 job(s)``.

One home for the rule, shared by the CLI's lines and the dashboard's toasts and
questions, so each says the count the way a person would.
"""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless the count is one; thousands separated
    (``1,250 jobs``). ``plural`` for nouns that do not just take an ``s``."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
