"""Counts in sentences: ``1 job``, ``3 jobs``, never ``3 job(s)``.

One home for the rule, shared by the CLI's lines and the dashboard's toasts and
questions, so each says the count the way a person would.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuectl.textsafe import bounded, inert


def figure(count: int) -> str:
    """A count on its own, thousands separated (``12,345``), as the dashboard's header
    and tables write it: for the CLI's tables and lines (``--json`` stays plain)."""
    return f"{count:,}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless the count is one; thousands separated
    (``1,250 jobs``). ``plural`` for nouns that do not just take an ``s``."""
    return f"{figure(count)} {noun if count == 1 else plural or noun + 's'}"


def rate(per_minute: float) -> str:
    """A rate's figure: tenths while small (``0.4``, ``12.5``), whole and separated once
    the tenth says nothing (``2,110``, where the dashboard's header said ``2110.0``)."""
    return f"{per_minute:,.0f}" if per_minute >= 100 else f"{per_minute:.1f}"


def listed(first: Sequence[str], total: int) -> str:
    """``a, b, c and 1,231 more``: the first few of ``total`` things, named, and how many
    more; enough to recognise a selection, bounded whatever its size. The caller names
    only the first few (a batch may hold 100,000 ids)."""
    named = ", ".join(first)
    more = total - len(first)
    return f"{named} and {more:,} more" if more > 0 else named


def human_bytes(count: int) -> str:
    """``512 B``, ``64.0 KB``, ``14.9 MB``: sizes of output, in powers of 1000 like ``du --si``."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def own_hook(hook: str | None) -> str:
    """A job's own hook as ``show`` and the dashboard's detail say it: blank when it has
    none of its own (the setting's applies), the command made inert, and a sentence when
    it turned the setting's off (``--on-success ''``)."""
    if hook is None:
        return ""
    return inert(bounded(hook)) if hook else "none (the setting's is off for this job)"


TTY_SHOWN = "yes: runs under a pseudo-terminal"
"""A ``--tty`` job, as ``show`` and the dashboard's detail say it."""
