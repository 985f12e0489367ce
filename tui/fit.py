"""Cells drawn to the space they get: a value's longest form that fits, an id cut in the middle."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text


class FirstThatFits:
    """The first of ``forms`` (longest first) that fits the width it is given.

    A time in the detail screen is ``2026-12-05T03:58:23Z (13s ago)`` where there
    is room; at 80 columns that was cut to ``2026-12-05T03:58:23Z (13s a…``, which
    loses the part read at a glance. A shorter form says less, but all of it.
    Only the last form is ever cut, when even it does not fit.
    """

    def __init__(self, *forms: Text) -> None:
        if not forms:
            raise ValueError("FirstThatFits needs at least one form")
        self.forms = forms

    def choose(self, width: int) -> Text:
        """The form drawn in ``width`` cells."""
        for form in self.forms:
            if cell_len(form.plain) <= width:
                return form
        return self.forms[-1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        form = self.choose(options.max_width).copy()
        form.no_wrap = True
        form.overflow = "ellipsis"
        yield form

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widths = [cell_len(form.plain) for form in self.forms]
        return Measurement(min(widths), max(widths)).clamp(max_width=options.max_width)


class MiddleCut(Text):
    """Text that, where its column is too narrow, loses its middle instead of its end.

    Ids that share a prefix differ at the end: a schedule's fires
    (``nightly-backup:20261205T030000Z``) would all read ``nightly-backup:2…`` cut
    at the end. Cut in the middle they keep what tells them apart: the part after
    the last ``:`` (a fire's time) as far as the width allows, else the last
    ``TAIL`` cells. The cut is made when drawn, at the width the column has then,
    so a wide screen shows the whole id and a narrow one as much of both ends as
    fits.
    """

    TAIL = 8
    """Cells kept from the end, at least (a generated id is 8)."""

    def cut(self, width: int) -> Text:
        """This text in ``width`` cells: whole, or its start, ``…`` and its end."""
        if self.cell_len <= width:
            return self
        if width < 3:  # no room for both ends: cut the end
            return Text.assemble(self, no_wrap=True, overflow="ellipsis")
        plain = self.plain
        after_colon = len(plain) - plain.rfind(":") - 1 if ":" in plain else 0
        tail = min(max(self.TAIL, after_colon), width - 2)  # one cell of the start at least
        head_end = _chars_within(plain, width - 1 - tail)
        tail_start = len(plain) - _chars_within(plain[::-1], tail)
        start, _, end = self.divide([head_end, tail_start])
        return Text.assemble(start, "…", end, no_wrap=True, overflow="ellipsis")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cut = self.cut(options.max_width)
        if cut is self:
            yield from super().__rich_console__(console, options)
        else:
            yield cut


class EndKept(Text):
    """Text that, where its column is too narrow, loses its start instead of its end.

    A sparkline is read from the right: its newest bars are the ones that say what
    the queue does now. Narrowed to make room at 80 columns, it keeps the latest
    bars whole and drops the oldest, with no ellipsis to take one of them.
    """

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if self.cell_len <= width:
            yield from super().__rich_console__(console, options)
            return
        plain = self.plain
        kept = Text.assemble(self[len(plain) - _chars_within(plain[::-1], width) :])
        kept.no_wrap = True
        yield kept


def _chars_within(text: str, cells: int) -> int:
    """How many of ``text``'s first characters fit in ``cells`` terminal cells."""
    used = 0
    for count, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return count
    return len(text)
