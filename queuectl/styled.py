"""Job output as Rich ``Text`` styled by its own colours: the one place SGR is interpreted.

``textsafe.keep_sgr`` first makes every control character visible except well-formed
SGR sequences, so Rich's ANSI decoder sees nothing but colours, bold and underline:
cursor moves, titles and clipboard writes arrive here already inert. Used by
``queuectl show`` and the dashboard's output views.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.ansi import AnsiDecoder
from rich.text import Text

from queuectl.textsafe import keep_sgr


def output_text(output: str | None) -> Text:
    """The whole output as one ``Text`` (lines joined by newlines), styled by its SGR."""
    return Text("\n").join(output_lines(output))


def output_lines(output: str | None) -> Iterator[Text]:
    """The output line by line, each styled; a colour carries on to the next line."""
    yield from OutputDecoder().feed(keep_sgr(output))


class OutputDecoder:
    """Decodes growing output line by line, keeping the style in force between calls.

    Fed text already passed through ``keep_sgr`` (only SGR escapes left): a live view
    decodes each new line once instead of the whole output on every refresh.
    """

    def __init__(self) -> None:
        self._decoder = AnsiDecoder()

    def feed(self, text: str) -> Iterator[Text]:
        """One styled ``Text`` per line of ``text`` (the last may be unfinished)."""
        decoder = self._decoder
        for line in text.split("\n"):
            if "\x1b" in line or decoder.style:
                yield decoder.decode_line(line)
            else:  # no colour in force nor set: a third of the time of decoding it
                yield Text(line)

    def peek(self, line: str) -> Text:
        """``line`` (no newline in it) styled as ``feed`` would, leaving the style in
        force as it was: a live view draws an unfinished line, then decodes it again
        once it is complete."""
        style = self._decoder.style
        try:
            return self._decoder.decode_line(line)
        finally:
            self._decoder.style = style
