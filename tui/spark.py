"""Text sparklines of clock-aligned buckets whose bars stay put while the last one fills.

Textual's ``Sparkline`` scales every bar between the smallest and the largest
value shown, so the bucket still filling moved them all: each job that ended
raised the last bar and, with it, the scale (at 160x45, sampled once a second
inside one 10 s bucket: ``▄▇▅▆▅▅▄▆`` then ``▃▇▄▆▄▅▃▆`` then ``▂▆▃▅▃▄▂▅``), and a
new bucket starting at zero lowered every bar at once. Here the scale is the
busiest *finished* bucket, from zero; the running bucket is drawn against it
(full when it passes it), so within a bucket only its own bar moves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BARS = " ▁▂▃▄▅▆▇█"
IDLE = "·"
"""A bucket in which nothing ended: a dot, so an idle stretch reads as idle, not as low."""


def merged(buckets: Sequence[float], per_character: int, *, first: int = 0) -> list[float]:
    """Consecutive buckets summed ``per_character`` at a time (a narrower sparkline).

    ``first`` is the clock's number of the first bucket (its start over the bucket's
    length): groups start on a multiple of ``per_character``, so a character stays
    one fixed 20 s of the clock. Grouped from the window's first bucket, every bar
    regrouped when the window moved on by one bucket (``▄▄▄·█▄▄··`` then
    ``███████··`` ten seconds later, the same finishes). The oldest buckets that
    would start a group part-way are left out; the last character may hold fewer
    (its 20 s are still running).
    """
    if per_character <= 1:
        return list(buckets)
    skip = (-first) % per_character
    return [
        sum(buckets[index : index + per_character])
        for index in range(skip, len(buckets), per_character)
    ]


def first_bucket(now: float, count: int, seconds: float) -> int:
    """The clock's number of the first of ``count`` buckets of ``seconds`` ending with
    the one ``now`` is in (how ``tui.data.throughput`` and the queue figures cut them)."""
    return math.floor(now / seconds) + 1 - count


def steady_sparkline(buckets: Sequence[float]) -> str:
    """One character a bucket, oldest first; the last bucket is the one still filling."""
    if not buckets:
        return ""
    peak = max(buckets[:-1], default=0.0) or buckets[-1]
    if peak <= 0:
        return IDLE * len(buckets)
    steps = len(BARS) - 1
    return "".join(
        BARS[min(steps, max(1, round(value / peak * steps)))] if value > 0 else IDLE
        for value in buckets
    )
