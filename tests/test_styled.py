"""Output decoded line by line in its own colours (``queuectl.styled``)."""

from __future__ import annotations

from rich.text import Text

from queuectl.styled import OutputDecoder


def _red(text: Text) -> bool:
    """Some span of ``text`` is in SGR 31 (the decoder's ``color(1)``)."""
    return any(span.style.color and span.style.color.number == 1 for span in text.spans)


def test_a_colour_carries_on_to_the_next_line() -> None:
    lines = list(OutputDecoder().feed("\x1b[31mred\nstill red\x1b[0m\nplain"))
    assert [line.plain for line in lines] == ["red", "still red", "plain"]
    assert _red(lines[1]) and not _red(lines[2])


def test_peek_leaves_the_style_in_force_as_it_was() -> None:
    """A live view draws an unfinished line, then decodes it again once it is complete:
    peeking at ``\\x1b[0mdone`` must not end the red the next line is still in."""
    decoder = OutputDecoder()
    [first] = decoder.feed("\x1b[31mred")
    assert _red(first)
    peeked = decoder.peek("so far\x1b[0m then plain")
    assert peeked.plain == "so far then plain"
    [again] = decoder.feed("still red")
    assert _red(again)
