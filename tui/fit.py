"""A value with shorter forms, drawn in the longest form its space holds."""

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
