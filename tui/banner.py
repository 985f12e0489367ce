"""The line that says the database is away, so stale figures are never taken for live ones.

A dashboard that lost its database keeps showing what it last read, which
looks exactly like a quiet queue. While refreshes fail, this banner says since
when, why (the store's one-line explanation, naming a lock's holder when it
can), and how old the figures on screen are; it goes when a refresh succeeds.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from queuectl.textsafe import one_line
from queuectl.timeutil import human_duration


class OutageBanner(Static):
    """Hidden while the database answers; one red line while it does not."""

    DEFAULT_CSS = """
    OutageBanner {
        display: none;
        height: 1;
        padding: 0 1;
        background: $error;
        color: $text;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    OutageBanner.-away { display: block; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.since: float | None = None
        """When the first refresh failed, or ``None`` while the database answers."""

    @property
    def away(self) -> bool:
        return self.since is not None

    def show_away(self, reason: str, now: float, last_read: float | None) -> None:
        """A refresh failed with ``reason``; ``last_read`` is when the figures shown were read."""
        if self.since is None:
            self.since = now
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"Database unavailable for {human_duration(max(0.0, now - self.since))}")
        text.append(f": {one_line(reason)}")
        if last_read is not None:
            text.append(f" · showing what was read {human_duration(max(0.0, now - last_read))} ago")
        text.append(" · retrying")
        self.update(text)
        self.add_class("-away")

    def show_back(self, now: float) -> float:
        """The database answered again; returns how long it was away."""
        away_for = max(0.0, now - self.since) if self.since is not None else 0.0
        self.since = None
        self.remove_class("-away")
        self.update("")
        return away_for
