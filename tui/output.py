"""A job's output on screen, in its own colours, growing live without a redraw.

``OutputView`` is a line view fed the stored output of one run on every read:
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

Only the rows in view are rendered, when they are painted: a ``RichLog`` rendered
every line as it was written, and a run whose kept tail held 9,363 lines (``seq 1
200000``, 64 KiB) froze the dashboard for 3-7 s at each opening of its detail or its
log, keys and all. Long lines wrap (``w``) at the view's width, cell by cell, as
``less`` folds them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from rich.segment import Segment
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from queuectl.records import dropped_bytes
from queuectl.styled import OutputDecoder
from queuectl.textsafe import keep_sgr
from queuectl.wording import human_bytes


def kept_note(output: str | None, output_bytes: int | None) -> str:
    """``1.3 MB earlier not kept``, when the stored output is only its tail (the first
    line shown may then start mid-line); empty when it is whole."""
    dropped = dropped_bytes(output, output_bytes)
    return f"{human_bytes(dropped)} earlier not kept" if dropped else ""


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


def last_line(output: str | None, *, whole: bool = True) -> str:
    """The last line of ``output`` that shows something, as the output view shows it (its
    latest update, its colours dropped, every other escape made visible), stripped.

    ``whole=False``: ``output`` is only the end of the output, so its first line may be
    the end of a longer one; it is then marked as cut (``…``)."""
    if not output:
        return ""
    lines = list(OutputDecoder().feed(keep_sgr(overwritten(output), reset=False)))
    for index in range(len(lines) - 1, -1, -1):
        text = lines[index].plain.strip()
        if text:
            return text if index or whole else f"…{text}"
    return ""


def _last_written(line: str) -> str:
    """A line with carriage returns as a terminal leaves it: each part written over the
    start of what was there (``red [bold]x\r100%`` is ``100%[bold]x``; only ``100%``
    was kept, the rest of the line lost). Where a part holds an escape (an erase such
    as ``ESC[K``, colours) or wide characters, columns cannot be told from characters
    here: the last part written stands for the line, as a progress bar means it."""
    if "\r" not in line:
        return line
    parts = line.split("\r")
    if not line.isascii() or "\x1b" in line:
        written = [part for part in parts if part]
        return written[-1] if written else ""
    shown = ""
    for part in parts:
        shown = part + shown[len(part) :]
    return shown


class OutputView(ScrollView, can_focus=True):
    """The output of one run; ``lines_text`` holds every line decoded, styled."""

    DEFAULT_CSS = """
    OutputView {
        background: $surface;
        color: $foreground;
        overflow-y: scroll;
        &:focus { background-tint: $foreground 5%; }
    }
    """

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

    class WentToEnd(Message):
        """``End`` pressed: the view's own key, which took it from the screen's ``G / End``
        (to the end, following again), scrolled without resuming the follow."""

    def action_scroll_end(self) -> None:
        self.post_message(self.WentToEnd())
        super().action_scroll_end()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lines_text: list[Text] = []
        """Each line decoded (search and export read these)."""
        self.starts: list[int] = []
        """The row each line starts on (they differ from the lines' numbers when wrapped)."""
        self.auto_scroll = True
        """Whether new lines bring the end into view (a paused log view turns it off)."""
        self._wrap = False
        self._shown: list[Text] = []
        """What is drawn for each line: ``lines_text``, or copies with matches marked."""
        self._widths: list[int] = []
        self._widest = 0
        self._rows = 0
        self._strips: LRUCache[int, Strip] = LRUCache(1024)
        """Each line rendered whole, by its number, for the rows painted from it."""
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

    @property
    def wrap(self) -> bool:
        """Long lines folded at the view's width, or cut (scroll sideways to read on)."""
        return self._wrap

    @wrap.setter
    def wrap(self, on: bool) -> None:
        self._wrap = on
        self._lay_out()

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
        elif rest:
            self._draw([self._decoder.peek(rest)])
            self._partial = rest

    def redraw(self, lines: list[Text] | None = None) -> None:
        """Draw ``lines`` (default: the decoded ones) in place of what is drawn: after a
        search marks its matches. As many lines as ``lines_text``."""
        self._shown = list(self.lines_text if lines is None else lines)
        self._widths = [line.cell_len for line in self._shown]
        self._widest = max(self._widths, default=0)
        self._lay_out()

    def clear(self) -> None:
        self.lines_text = []
        self._shown = []
        self._widths = []
        self._widest = 0
        self._lay_out()

    def _take_back_partial(self) -> None:
        """Remove the provisional last line, if one is drawn: it is drawn again as it is now."""
        if not self._partial:
            return
        self._partial = ""
        self.lines_text.pop()
        self._shown.pop()
        self._widths.pop()
        self._widest = max(self._widths, default=0)
        self.version += 1
        self._lay_out()

    def _restart(self, key: object) -> None:
        self.clear()
        self._key = key
        self._consumed = ""
        self._finished = False
        self._decoder = OutputDecoder()
        self._partial = ""
        self.version += 1

    def _draw(self, lines: Iterable[Text]) -> None:
        """Add lines at the end: measured now, rendered only once painted."""
        added = False
        for line in lines:
            line.expand_tabs()
            width = line.cell_len
            self.lines_text.append(line)
            self._shown.append(line)
            self._widths.append(width)
            self._widest = max(self._widest, width)
            added = True
        if added:
            self.version += 1
            self._lay_out(appended=True)

    @property
    def lines_rendered(self) -> int:
        """How many lines are rendered and kept for painting: those in view lately, not
        every line of the output."""
        return len(self._strips)

    def painted(self) -> list[str]:
        """The text of every row, as it is painted (wrapped lines as several): what a
        person scrolling through the whole view reads. For tests; it renders each line."""
        fold = self._fold_width()
        rows = []
        for row in range(self._rows):
            index = bisect_right(self.starts, row) - 1
            strip = self._strip(index)
            if self._wrap:
                piece = row - self.starts[index]
                strip = strip.crop(piece * fold, (piece + 1) * fold)
            rows.append(strip.text)
        return rows

    # --- rows -------------------------------------------------------------------------

    def _fold_width(self) -> int:
        return max(1, self.scrollable_content_region.width) if self.size.width else 80

    def _lay_out(self, *, appended: bool = False) -> None:
        """Where each line starts among the rows, the view's size, and a repaint. Lines
        appended keep the rows before them, so only the new ones are counted."""
        if self._wrap:
            fold = self._fold_width()
            first = len(self.starts) if appended else 0
            del self.starts[first:]
            row = self.starts[-1] + self._height(first - 1, fold) if first else 0
            for index in range(first, len(self._widths)):
                self.starts.append(row)
                row += self._height(index, fold)
            self._rows = row
            width = fold
        else:
            self.starts = list(range(len(self._widths)))
            self._rows = len(self._widths)
            width = self._widest
        if not appended:
            self._strips.clear()
        self.virtual_size = Size(width, self._rows)
        if appended:
            self.keep_end(x_axis=False)  # new lines keep the column the person scrolled to
        self.refresh()

    def keep_end(self, *, x_axis: bool = True) -> None:
        """Bring the end into view if following (``auto_scroll``), once the view has
        measured what it was just given: after the next refresh, as Textual's own
        ``scroll_end`` waits.

        Following is asked again then: ``g`` typed as a log opened on a loaded machine
        landed at the end, as the opening's deferred scroll (which scrolls regardless)
        came after the key. ``x_axis``: back to the first column too, as ``scroll_end``.
        """

        def to_end() -> None:
            if self.auto_scroll and self.is_attached:
                self.scroll_end(animate=False, immediate=True, x_axis=x_axis)

        if self.auto_scroll:
            self.call_after_refresh(to_end)

    def _height(self, index: int, fold: int) -> int:
        return max(1, -(-self._widths[index] // fold))

    def line_at(self, row: int) -> int:
        """The line shown on ``row`` (a wrapped line takes several rows)."""
        return max(0, bisect_right(self.starts, row) - 1)

    def on_resize(self) -> None:
        """Wrapped lines fold again at the new width, the line at the top kept there: the
        old scroll offset, in rows, showed other lines (a search's match went out of
        sight, the title still naming it), unless the view follows the end."""
        if not self._wrap:
            return
        top = self.line_at(round(self.scroll_y))
        self._lay_out()
        if self.auto_scroll:
            self.keep_end()
        elif top < len(self.starts):
            row = self.starts[top]
            self.call_after_refresh(lambda: self.scroll_to(y=row, animate=False))

    def _strip(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            line = self._shown[index]
            segments = list(line.render(self.app.console))
            strip = Strip(Segment.simplify(segments), self._widths[index])
            self._strips[index] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        if row >= self._rows or not self._shown:
            return Strip.blank(width, self.rich_style)
        if self._wrap:
            index = bisect_right(self.starts, row) - 1
            fold = self._fold_width()
            piece = row - self.starts[index]
            strip = self._strip(index).crop(piece * fold, (piece + 1) * fold)
            return strip.extend_cell_length(width).apply_style(self.rich_style)
        strip = self._strip(row).crop_extend(scroll_x, scroll_x + width, None)
        return strip.apply_style(self.rich_style)
