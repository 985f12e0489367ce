"""The key bar at the bottom of a screen: the keys that work now, fitted to the width.

It stands in for Textual's ``Footer``, which rebuilds one widget per key on
every focus or screen change and binds each to its ``compact`` setting with
``data_bind``. Those watchers stay on the footer after the keys are removed
(Textual prunes them only when ``compact`` changes, which it never does here),
so every pane switch or dialog left 13-16 dead widgets behind: hundreds of MB
and a busy UI thread after a day (Textualize/textual#6666). This bar is one
widget drawing one line of text: nothing to mount, nothing to watch.

On a narrow screen the pane's keys go first, from the right; help and quit
always stay, so ``?`` is never out of reach.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.keys import REPLACED_KEYS, key_to_character
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from tui.messages import CHANGING_ACTIONS

ESSENTIAL_ACTIONS = frozenset({"help", "quit", "app.pop_screen", "dismiss_help"})
"""Kept whatever the width: the way to the other keys, and the way out."""

GAP = 2
"""Blank cells between two keys."""
DIM = Style(dim=True)


def _printable(key: str) -> bool:
    """The key types a character (``slash``, ``q``), rather than being a key of its own."""
    character = key_to_character(REPLACED_KEYS.get(key, key))  # slash: solidus, "/"
    return character is not None and character.isprintable() and character != " "


class KeyBar(Widget, can_focus=False):
    """One line: ``key description`` for each shown binding of the focused chain."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        padding: 0 1;
        background: $footer-background;
        color: $footer-foreground;
        & > .keybar--key { color: $footer-key-foreground; text-style: bold; }
        & > .keybar--description { color: $footer-description-foreground; }
    }
    """

    def __init__(self, *, own_keys: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.own_keys = own_keys
        """Only the screen's own keys, not the app's (a dialog's: ``OwnKeyBar``)."""
        self.items: list[tuple[str, str, str, str, bool]] = []
        """(key shown, description, key, action, enabled) in order, one per action."""
        self._spans: list[tuple[int, int, str]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._collect()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self._collect()

    def _collect(self) -> None:
        items: list[tuple[str, str, str, str, bool]] = []
        seen: set[str] = set()
        # In a text field a printable key is typed, not run: the Config pane's edit box
        # showed "/ Filter", and / typed a slash.
        focused = self.screen.focused
        typing = isinstance(focused, Input)
        hints = [*getattr(self.screen, "key_hints", ()), *getattr(focused, "key_hints", ())]
        for key, description in hints:
            shown = self.app.get_key_display(Binding(key, ""))
            items.append((shown, description, key, f"hint:{key}", True))
        for node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            if self.own_keys and node is self.app:
                continue
            offers = getattr(node, "offers", None)  # a pane's word on its highlighted row
            if enabled and offers is not None and not offers(binding.action):
                enabled = False  # shown dimmed; pressed, the action says why it does nothing
            if binding.action in CHANGING_ACTIONS and getattr(self.app, "read_only", False):
                continue  # refused there, with a toast: not offered
            if typing and _printable(binding.key):
                continue
            seen.add(binding.action)
            items.append(
                (
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.key,
                    binding.action,
                    enabled,
                )
            )
        if items != self.items:
            self.items = items
            self.refresh()

    def fitted(self, width: int) -> list[tuple[str, str, str, str, bool]]:
        """The items that fit in ``width`` cells: the pane's keys give way from the right."""
        items = list(self.items)

        def size(chosen: list[tuple[str, str, str, str, bool]]) -> int:
            return sum(Text(f"{k} {d}").cell_len for k, d, *_ in chosen) + GAP * (len(chosen) - 1)

        while items and size(items) > width:
            droppable = [i for i, item in enumerate(items) if item[3] not in ESSENTIAL_ACTIONS]
            if not droppable:
                break
            del items[droppable[-1]]
        return items

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        text_style = self.get_component_rich_style("keybar--description")
        line = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        for index, (shown, description, key, _action, enabled) in enumerate(
            self.fitted(self.content_size.width)
        ):
            if index:
                line.append(" " * GAP)
            start = line.cell_len
            dim = Style() if enabled else DIM
            line.append(shown, style=key_style + dim)
            line.append(" " + description, style=text_style + dim)
            self._spans.append((start, line.cell_len, key))
        return line

    def on_resize(self) -> None:
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        """A click on a key presses it, for mouse users."""
        x = event.x - self.styles.padding.left
        for start, end, key in self._spans:
            if start <= x < end:
                event.stop()
                self.app.simulate_key(key.split(",")[0])
                return


class OwnKeyBar:
    """A dialog's key bar: its own keys, over the bar of the screen beneath.

    A dialog is drawn over its screen, whose bar stayed in sight: under the job form
    it read ``space Mark  r Retry  c Cancel  d Delete  e Edit``, letters the form types
    into its fields, and not the form's own ``esc`` and ``ctrl+s``.
    """

    def on_mount(self) -> None:
        self.mount(KeyBar(own_keys=True))  # type: ignore[attr-defined]
