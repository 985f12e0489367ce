"""Make untrusted text (commands, job output) safe to put on a terminal.

A job's output may hold escape sequences that recolour the screen, move the
cursor, set the window title or write the clipboard (OSC 52). Everything
queuectl shows of it goes through here first: control characters become
visible symbols, so the text is shown as it is and never acted on.

Unicode's invisible format characters are made visible too: bidirectional
overrides and isolates reorder what a terminal shows ("Trojan Source",
CVE-2021-42574), so ``rm -rf ~ #\u202e`` could read as something harmless, and
zero-width spaces, byte order marks and line separators hide or break text.
The joiners (U+200C, U+200D) stay: emoji and several scripts need them.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
import unicodedata
from collections.abc import Callable

# C0 controls become their Unicode "control picture" (ESC -> U+241B), DEL -> U+2421.
_C0_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)}
_C0_PICTURES[0x7F] = "\u2421"
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200e\u200f"
    "\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
"""Every character Unicode says to draw as nothing (Default_Ignorable_Code_Point) but
the joiners and a single variation selector: bidirectional marks, embeddings,
overrides and isolates, zero-width space and word joiner, the byte order mark; the
soft hyphen, the combining grapheme joiner, the Khmer inherent vowels, the Mongolian
vowel separator, the invisible operators, the Hangul fillers, the shorthand format
controls, the musical symbols' beam and slur controls, the code points kept for more
of them (U+2065, U+FFF0-U+FFF8, U+E0080 onwards); also the line and paragraph
separators and the interlinear annotations; and the tag characters and the
supplementary variation selectors, which can carry a hidden copy of any text
("ASCII smuggling": a byte a character). ``echo rm`` followed by four musical
controls then `` -rf`` read as ``echo rm -rf``."""
_SELECTOR_RUN = "[\u180b-\u180d\u180f\ufe00-\ufe0f]{2,}"
"""Variation selectors one after another (Mongolian's free ones too): one selector
picks a form of the character before it (an emoji's ❤️ is U+2764 U+FE0F), and is
kept; a run of them picks nothing and carries hidden text, four bits a selector."""
_C1 = re.compile(f"[\x80-\x9f{_INVISIBLE}]|{_SELECTOR_RUN}")
"""Shown as their escape (``\\x85``, ``\\u202e``): they have no picture of their own."""
MARKS_KEPT = 30
"""Combining marks shown on one character; the rest are counted (``[+4,970 marks]``).
Unicode's stream-safe format (UAX #15) allows 30; no script needs more. A job's output
line of 12 MB of marks on one letter is one cell wide, and every repaint of the log
view handed all 12 MB to the terminal: the dashboard froze for over a minute."""
_MAYBE_MARKS = re.compile(f"[\u0300-\U0010ffff]{{{MARKS_KEPT + 1},}}")
"""A cheap first look: no run of that many characters from U+0300 up, no run of marks."""


@functools.cache
def _mark_runs() -> re.Pattern[str]:
    """More than ``MARKS_KEPT`` marks (Unicode's Mn and Me) in a row, the first kept as a
    group. Built from ``unicodedata`` once, when first needed (~40 ms): marks lie below
    U+20000 (those above are the variation selectors ``_INVISIBLE`` escapes anyway)."""
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x20001):
        mark = code < 0x20000 and unicodedata.category(chr(code)) in ("Mn", "Me")
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    marks = "".join(ranges)
    return re.compile(f"([{marks}]{{{MARKS_KEPT}}})[{marks}]+")


def _capped_marks(text: str, rest: Callable[[int], str] = lambda more: f"[+{more:,} marks]") -> str:
    """``text`` with each run of combining marks cut to ``MARKS_KEPT``; ``rest`` says the
    marks past them (how many, by default)."""
    if not _MAYBE_MARKS.search(text):
        return text
    return _mark_runs().sub(lambda run: run.group(1) + rest(len(run.group()) - MARKS_KEPT), text)


_BLOCK = {**_C0_PICTURES, ord("\n"): "\n", ord("\t"): "\t"}
_ONE_LINE = {**_C0_PICTURES, ord("\n"): "\u23ce", ord("\t"): " "}  # ⏎


def inert(text: str | None, *, single_line: bool = False) -> str:
    """``text`` with every control character made visible.

    Args:
        single_line: for table cells: newlines and tabs become visible too, so
            one job stays one row.

    Newlines and tabs are kept otherwise; ``\\r\\n`` becomes ``\\n`` and a lone
    ``\\r`` (progress bars) starts a new line instead of overwriting one.
    """
    if not text:
        return ""
    if text.isascii() and text.isprintable():
        return text  # the common case, and the dashboard asks ~1,500 times a refresh
    if not single_line:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_ONE_LINE if single_line else _BLOCK)
    return _capped_marks(_C1.sub(_escaped, text))


def _escaped(match: re.Match[str]) -> str:
    return "".join(map(_escape, match.group()))


def _escape(char: str, bytes_below: int = 0x100) -> str:
    """``\\xHH`` below ``bytes_below``, else ``\\uHHHH`` or ``\\UHHHHHHHH``."""
    code = ord(char)
    if code < bytes_below:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_IN_PLACE = {**_C0_PICTURES, ord("\t"): "\t", ord("\n"): "\u23ce"}


def inert_in_place(text: str) -> str:
    """``text`` with each control or invisible character replaced by one visible
    character of one cell (a control picture, ``⏎``, or ``\ufffd``), so every index
    still points at the same character: for an editable field, whose cursor is an
    index into the real value. Tabs stay (the field expands them itself)."""
    if text.isascii() and text.isprintable():
        return text
    text = _C1.sub(lambda match: "\ufffd" * len(match.group()), text.translate(_IN_PLACE))
    return _capped_marks(text, lambda more: "\ufffd" * more)


SGR = re.compile(r"\x1b\[([0-9;:]{0,64})m")
"""Select Graphic Rendition (colours, bold, underline): the one escape ever kept, and
only with ``keep_sgr``. Its parameters are digits and separators: it can restyle
the text after it, never move the cursor, retitle the window or reach the clipboard."""
RESET = "\x1b[0m"


def keep_sgr(text: str | None, *, reset: bool = True) -> str:
    """``inert``, except that well-formed SGR sequences (colours, bold, underline) stay.

    For output shown in colour: every other escape (cursor moves, OSC titles,
    OSC 52 clipboard writes, C1 controls) is made visible as ``inert`` does. A
    text that used SGR ends with a reset, so its last colour never leaks into
    what is printed after it (``reset=False`` leaves it out: a live view decoding
    growing output compares each read with the last).
    """
    if not text:
        return ""
    if "\x1b" not in text:
        return inert(text)
    pieces: list[str] = []
    start = 0
    styled = False
    colours = _Colours()
    for match in SGR.finditer(text):
        pieces.append(inert(text[start : match.start()]))
        pieces.append(colours.legible(_visible_sgr(match.group(1))))
        styled = True
        start = match.end()
    pieces.append(inert(text[start:]))
    if styled and reset:
        pieces.append(RESET)
    return "".join(pieces)


_EXTENDED_COLOUR = {38, 48, 58}
"""Foreground, background, underline colour: ``5;N`` or ``2;R;G;B`` follow (with ``;``)."""

_EXTENDED_LENGTH = {5: 3, 2: 5}
"""Words an extended colour takes, by its kind: ``38;5;N``, ``38;2;R;G;B``."""

_DROPPED_SGR = {5, 6, 8}
"""Blink (slow, fast) and conceal: conceal hides the text after it (a job could print
what the user never sees), blink is a nuisance on a screen kept open all day."""


_CUBE = (0, 95, 135, 175, 215, 255)
_SIXTEEN = (
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0),
    (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
    (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
)  # fmt: skip
"""xterm's 16 colours: terminals differ, but not so far that equal stays unequal."""

TOO_CLOSE = 48
"""Distance in RGB (0-255 a channel) under which text on a background is not read: a
job could print black on black what the user never sees, as conceal would."""

Colour = tuple[int, int, int]


def _indexed(number: int) -> Colour | None:
    """A 256-colour palette entry as RGB, xterm's way."""
    if 0 <= number < 16:
        return _SIXTEEN[number]
    if 16 <= number < 232:
        number -= 16
        return (_CUBE[number // 36], _CUBE[number // 6 % 6], _CUBE[number % 6])
    if 232 <= number < 256:
        level = 8 + 10 * (number - 232)
        return (level, level, level)
    return None


class _Colours:
    """The foreground and background the SGR sequences so far set, to keep text legible.

    Only colours set explicitly are known; a terminal's defaults are not, so black text
    on a terminal's black is beyond this (as it is beyond ``less -R``).
    """

    def __init__(self) -> None:
        self.fg: Colour | None = None
        self.bg: Colour | None = None

    def legible(self, sequence: str) -> str:
        """``sequence``, with the terminal's default colours appended when it would
        leave the text in a colour too close to its background's (``TOO_CLOSE``): not
        the default background alone, which leaves black text on a black terminal."""
        if not sequence:
            return sequence
        self._apply(sequence[2:-1])
        if self.fg is None or self.bg is None:
            return sequence
        if math.dist(self.fg, self.bg) >= TOO_CLOSE:
            return sequence
        self.fg = self.bg = None
        return f"{sequence[:-1]};39;49m"

    def _apply(self, parameters: str) -> None:
        words = [word.split(":") for word in parameters.split(";")]
        index = 0
        while index < len(words):
            head, *sub = words[index]
            number = int(head) if head.isdigit() else 0  # "" is 0: a reset
            index += 1
            if number == 0:
                self.fg = self.bg = None
            elif 30 <= number <= 37 or 90 <= number <= 97:
                self.fg = _SIXTEEN[number - 30 if number < 90 else number - 82]
            elif 40 <= number <= 47 or 100 <= number <= 107:
                self.bg = _SIXTEEN[number - 40 if number < 100 else number - 92]
            elif number == 39:
                self.fg = None
            elif number == 49:
                self.bg = None
            elif number in (38, 48):
                if sub:
                    colour, _ = _extended(sub, colon=True)
                else:
                    colour, used = _extended([w[0] for w in words[index : index + 4]], colon=False)
                    index += used
                if number == 38:
                    self.fg = colour
                else:
                    self.bg = colour


def _extended(values: list[str], *, colon: bool) -> tuple[Colour | None, int]:
    """The colour after a 38 or 48, and how many of ``values`` it took: ``5;N`` or
    ``2;R;G;B``; in the colon form ``2:R:G:B`` or, with a colour space id, ``2:ID:R:G:B``."""
    kind = int(values[0]) if values and values[0].isdigit() else None  # 05 is 5
    if kind == 5:
        number = values[1] if len(values) > 1 else ""
        return (_indexed(int(number)) if number.isdigit() else None), 2
    if kind == 2:
        rgb = values[2:5] if colon and len(values) >= 5 else values[1:4]
        if len(rgb) == 3 and all(v.isdigit() and int(v) <= 255 for v in rgb):
            return (int(rgb[0]), int(rgb[1]), int(rgb[2])), 4
        return None, 4
    return None, 0


def _sgr_number(word: str) -> int | None:
    """A parameter's value as a terminal reads it: ``008`` is 8 (the string compare let
    ``\x1b[008m`` conceal the text after it); a colon's sub-parameters are the rest."""
    head = word.split(":")[0]
    return int(head) if head.isascii() and head.isdigit() else None


def _visible_sgr(parameters: str) -> str:
    """An SGR sequence without blink or conceal (``_DROPPED_SGR``).

    Its other parameters stay as they were; the ``8`` of a colour (``38;5;8``, grey)
    is a colour's, not a conceal.
    """
    if not any(digit in parameters for digit in "568"):
        return f"\x1b[{parameters}m"
    kept: list[str] = []
    words = parameters.split(";")
    index = 0
    while index < len(words):
        word = words[index]
        number = _sgr_number(word)
        if number in _EXTENDED_COLOUR and ":" not in word and index + 1 < len(words):
            length = _EXTENDED_LENGTH.get(_sgr_number(words[index + 1]) or -1, 1)
            kept.extend(words[index : index + length])
            index += length
            continue
        if number not in _DROPPED_SGR:
            kept.append(word)
        index += 1
    if not kept:
        return ""  # nothing but those: dropped whole (an empty SGR would reset)
    return f"\x1b[{';'.join(kept)}m"


LONGEST_FIELD = 128 * 1024
"""Characters shown of a job's command, hook or last error: none queuectl writes is
longer (a command is at most ``jobspec.MAX_COMMAND_BYTES``)."""


def bounded(text: str | None, longest: int = LONGEST_FIELD, *, length: int | None = None) -> str:
    """``text`` cut to ``longest`` characters, saying how many more there were.

    A row written past queuectl's limits (anyone who can write the database can)
    froze the dashboard's detail for minutes and ``show`` for 30 s at 34 MB while
    they wrapped it; nothing longer is shown, so nothing longer is wrapped.
    ``length``: the whole text's, when ``text`` was read cut already.
    """
    length = len(text or "") if length is None else length
    if not text or length <= longest:
        return text or ""
    more = length - longest
    return f"{text[:longest]}… [{more:,} more characters not shown]"


def one_line(text: str | None, width: int | None = None) -> str:
    """``inert`` for a table cell, cut to ``width`` characters with an ellipsis."""
    flat = inert(text, single_line=True)
    if width is not None and len(flat) > width:
        return flat[: max(0, width - 1)] + "…"
    return flat


_TERMINAL_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]|{_SELECTOR_RUN}")
"""What ``inert`` makes visible: controls (C0, DEL, C1) and the invisible characters."""


def has_unsafe(text: str) -> bool:
    """Whether ``text`` holds a character ``inert`` would have made visible."""
    return not (text.isascii() and text.isprintable()) and bool(_TERMINAL_UNSAFE.search(text))


def scrubbed(text: str) -> str:
    """``text`` with every control and invisible character removed, each replaced by as
    many spaces as cells it was measured to take (most take none): for text already laid
    out, where a visible escape would change the widths. A last guard only: text from the
    database is made inert (visible) where it is shown; this keeps a path that missed it
    from handing the terminal an escape sequence."""
    from rich.cells import cell_len

    return _TERMINAL_UNSAFE.sub(lambda match: " " * cell_len(match.group()), text)


def shell_word(text: str | None) -> str:
    """A name from the database as a word of a command the output suggests (``start one:
    queuectl worker start --queue X``), quoted for a shell where it needs it.

    A row's queue ``reports;touch${IFS}/tmp/x`` made that suggestion run ``touch`` for
    whoever pasted it. A name holding a character ``inert`` would show otherwise (a tab,
    a newline, an escape, U+202E) is written in bash's and zsh's ``$'…'`` quoting, each
    such character as its escape: inert on the screen, and pasted it names the queue
    itself (its display form, quoted as it was, named a queue that does not exist).
    """
    text = text or ""
    if one_line(text) == text:
        return shlex.quote(text)
    return "$'" + "".join(_ansi_c_character(character) for character in text) + "'"


def _ansi_c_character(character: str) -> str:
    if character in "\\'":
        return "\\" + character
    if one_line(character) == character:
        return character
    return _escape(character, bytes_below=0x80)  # in $'…', \xHH is a byte: C1 as code points


def unicode_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or printed as UTF-8, or ``None`` when it can.

    Python lets a ``str`` hold lone surrogates: from a JSON escape such as
    ``"\\ud800"``, or standing for bytes that were not valid UTF-8 (a command-line
    argument or a file, decoded with ``surrogateescape``). Neither can be
    encoded, so they are refused at the door with a message saying which.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        if 0xDC80 <= code <= 0xDCFF:
            return f"is not valid UTF-8 (byte 0x{code - 0xDC00:02x} at position {exc.start})"
        return f"holds a lone surrogate (\\u{code:04x} at position {exc.start}), not valid Unicode"
    return None
