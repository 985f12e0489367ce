"""The last guard between the dashboard and the terminal: no control character leaves.

Text from the database is made inert (visible) wherever the dashboard shows it. Textual
draws some text itself, though, past those paths: an input's suggestion (a queue name
from the database, typed into after its first letter) reached the terminal raw, OSC 52
and all, and so did a status line built from a filter a row had set. This filter runs on
every line Textual draws, in the terminal and in the browser alike, and removes any
control or invisible character still in a segment's text, keeping each line's width.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

from queuectl.textsafe import has_unsafe, scrubbed


class ControlGuard(LineFilter):
    """Removes control and invisible characters from the text of drawn segments
    (Textual's own control segments, which move the cursor, pass untouched)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(has_unsafe(segment.text) for segment in segments if not segment.control):
            return segments
        return [
            Segment(scrubbed(segment.text), segment.style, segment.control)
            if not segment.control and has_unsafe(segment.text)
            else segment
            for segment in segments
        ]
