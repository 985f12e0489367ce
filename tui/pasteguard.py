"""A paste is text: an ESC inside one is dropped before Textual's parser sees it.

With bracketed paste on, the terminal wraps a paste in ``ESC [200~`` … ``ESC [201~``
so the app can take it as text, not keys. Textual 8's ``XTermParser`` collects the
paste one character at a time, but an ESC inside it starts an escape sequence that
is read apart from the paste and then sent as key presses, ahead of the ``Paste``
event: pasting ``echo X ESC[2J Y Z`` into the new-job form typed ``^[2J Y Z`` and
then pasted ``echo X`` in front of it, and a newline after the ESC arrived as Enter
and enqueued the scrambled command. xterm, Alacritty and newer tmux strip ESC from
what they paste for this reason; tmux 3.3a (``paste-buffer -p``) and some other
terminals send it as it is. So the guard does what those terminals do, on the way in:
inside a paste every ESC but the end marker's is dropped.

The parser is made by Textual's drivers (the terminal's and the web's), each from the
name ``XTermParser`` in its own module; ``install`` points those names at the
guarded parser. ``tests/tui/test_pasteguard.py`` fails if a Textual release moves them.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._xterm_parser import BRACKETED_PASTE_END, BRACKETED_PASTE_START, XTermParser
from textual.message import Message

ESC = "\x1b"


def _held_back(text: str, marker: str) -> int:
    """How many characters at the end of ``text`` could begin ``marker``."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


class InertPasteParser(XTermParser):
    """``XTermParser`` fed with every ESC inside a bracketed paste taken out.

    Input arrives in chunks that may split a marker (``ESC [20`` | ``1~``). Outside a
    paste nothing is held back (a lone ESC is the Escape key, and the parser times it
    out itself); only the last few characters are remembered to find a start marker
    split across chunks. Inside one, a tail that may begin the end marker waits for
    the next chunk.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pasting = False
        self._seen = ""
        self._held = ""

    def feed(self, data: str) -> Iterable[Message]:
        if not data:
            return super().feed(data)  # the end of input, as Textual's drivers say it
        guarded = self.inert_pastes(data)
        # Everything held back (an ESC in a paste, a marker's first half): nothing to
        # feed yet, and an empty feed would read as the end of input.
        return super().feed(guarded) if guarded else ()

    def inert_pastes(self, data: str) -> str:
        """``data`` with the ESCs inside pastes dropped, markers kept."""
        out: list[str] = []
        while data:
            if not self._pasting:
                window = self._seen + data
                at = window.find(BRACKETED_PASTE_START)
                if at < 0:
                    out.append(data)
                    self._seen = window[-(len(BRACKETED_PASTE_START) - 1) :]
                    break
                past_marker = at + len(BRACKETED_PASTE_START) - len(self._seen)
                out.append(data[:past_marker])
                data = data[past_marker:]
                self._pasting, self._seen = True, ""
            else:
                window, self._held = self._held + data, ""
                at = window.find(BRACKETED_PASTE_END)
                if at < 0:
                    keep = _held_back(window, BRACKETED_PASTE_END)
                    out.append(window[: len(window) - keep].replace(ESC, ""))
                    self._held = window[len(window) - keep :]
                    break
                out.append(window[:at].replace(ESC, "") + BRACKETED_PASTE_END)
                data = window[at + len(BRACKETED_PASTE_END) :]
                self._pasting = False
        return "".join(out)


DRIVER_MODULES = ("textual.drivers.linux_driver", "textual.drivers.web_driver")
"""Textual's drivers that make an ``XTermParser`` by that name."""


def install() -> None:
    """Make Textual's terminal and web drivers build the guarded parser."""
    import importlib

    for name in DRIVER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a driver of another platform
            continue
        if getattr(module, "XTermParser", None) is XTermParser:
            module.XTermParser = InertPasteParser  # type: ignore[attr-defined]
