"""A job's output on screen, in its own colours, growing live without a redraw.

``OutputView`` is a ``RichLog`` fed the stored output of one run on every read:
text is passed through ``textsafe.keep_sgr`` (every escape but SGR made visible)
and decoded line by line by ``queuectl.styled.OutputDecoder``, so each new line
is decoded and drawn once. A read that does not extend what is shown (another
run, the kept tail sliding past its limit) redraws.

A running job's unfinished last line (``printf "45%"``, a prompt, a progress
bar's latest ``\r`` update) is drawn too, provisionally: it was withheld until
a newline came, so a progress bar showed one update late and a job that printed
no newline showed nothing until it ended. The next read takes it off the end of
the log (a ``RichLog`` only appends) and draws what it has become.

A carriage return goes back to the start of its line, as in a terminal
(``overwritten``): a progress bar is one line showing its latest update, not a
line per update (``queuectl logs`` keeps each update on a line of its own).
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import RichLog

from queuectl.styled import OutputDecoder
from queuectl.textsafe import keep_sgr


def overwritten(output: str) -> str:
    """Each line of ``output`` as a terminal leaves it: the last text written after a
    carriage return (``1%\r2%\r3%`` is ``3%``). A ``\r\n`` ends a line as ``\n`` does.

    Complete lines never change once their newline has come, so a live view that
    compares each read with the text it drew before still sees one grow.
    """
    if "\r" not in output:
        return output
    lines = output.replace("\r\n", "\n").split("\n")
    return "\n".join(_last_written(line) for line in lines)


def _last_written(line: str) -> str:
    if "\r" not in line:
        return line
    written = [part for part in line.split("\r") if part]
    return written[-1] if written else ""


class OutputView(RichLog):
    """The output of one run; ``lines_text`` holds every line drawn, styled."""

    class ScrolledBack(Message):
        """The person moved up from where the view was, by a key: a follower stops."""

    def action_scroll_up(self) -> None:
        self.post_message(self.ScrolledBack())
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.post_message(self.ScrolledBack())
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.post_message(self.ScrolledBack())
        super().action_scroll_home()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(highlight=False, markup=False, wrap=False, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self.lines_text: list[Text] = []
        """Each line drawn, as decoded (search and export read these)."""
        self.starts: list[int] = []
        """Where each line starts among the lines on screen (they differ when wrapped)."""
        self._key: object = None
        self._consumed = ""
        """The safe text of the complete lines drawn so far."""
        self._finished = False
        self._decoder = OutputDecoder()
        self._partial = ""
        """The unfinished last line drawn provisionally (the last of ``lines_text``), if any."""
        self.version = 0
        """Counts changes to ``lines_text``: a search finds its matches again after one."""

    @property
    def plain(self) -> str:
        """Everything drawn, as text (tests and export read it)."""
        return "\n".join(line.plain for line in self.lines_text)

    def show(self, output: str | None, key: object, *, finished: bool) -> None:
        """Show ``output`` of the run ``key``; ``finished`` draws its unfinished last line."""
        text = keep_sgr(overwritten(output) if output else output, reset=False)
        if key != self._key or not text.startswith(self._consumed) or self._finished:
            if key == self._key and self._finished and text == self._consumed:
                return
            self._restart(key)
        new = text[len(self._consumed) :]
        cut = new.rfind("\n")
        rest = new[cut + 1 :]
        if cut < 0 and not finished and rest == self._partial:
            return  # nothing new: the usual refresh of a quiet job
        self._take_back_partial()
        if cut >= 0:
            self._draw(self._decoder.feed(new[:cut]))
            self._consumed += new[: cut + 1]
        if finished:
            if rest:
                self._draw(self._decoder.feed(rest))
                self._consumed += rest
            self._finished = True
        elif rest and self._size_known:  # before its size, RichLog defers what it is given
            self._draw([self._decoder.peek(rest)])
            self._partial = rest

    def _take_back_partial(self) -> None:
        """Remove the provisional last line from the end of the log, if one is drawn."""
        if not self._partial:
            return
        self._partial = ""
        self.lines_text.pop()
        del self.lines[self.starts.pop() :]
        self._line_cache.clear()  # keyed by line number: the next line drawn reuses it
        self.virtual_size = self.virtual_size.with_height(len(self.lines))
        self.version += 1
        self.refresh()

    def _restart(self, key: object) -> None:
        self.clear()
        self.lines_text = []
        self.starts = []
        self._key = key
        self._consumed = ""
        self._finished = False
        self._decoder = OutputDecoder()
        self._partial = ""
        self.version += 1

    def _draw(self, lines: object) -> None:
        for line in lines:  # type: ignore[attr-defined]
            self.version += 1
            self.lines_text.append(line)
            self.starts.append(len(self.lines))
            self.write(line, scroll_end=None)

    def redraw(self, lines: list[Text] | None = None) -> None:
        """Draw ``lines`` (default: the decoded ones) again: after a wrap toggle or a search."""
        self.clear()
        self.starts = []
        for line in self.lines_text if lines is None else lines:
            self.starts.append(len(self.lines))
            self.write(line, scroll_end=False)
