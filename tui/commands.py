"""The command palette (ctrl+p): every dashboard action, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.messages import CHANGING_ACTIONS

if TYPE_CHECKING:
    from tui.app import QueueApp

COMMANDS: list[tuple[str, str, str]] = [
    ("Jobs: show", "show_pane('jobs')", "Switch to the Jobs pane (1)"),
    ("DLQ: show", "show_pane('dlq')", "Switch to the dead-letter queue (2)"),
    ("Workers: show", "show_pane('workers')", "Switch to the Workers pane (3)"),
    ("Config: show", "show_pane('config')", "Switch to the Config pane (4)"),
    ("Queues: show", "show_pane('queues')", "Switch to the Queues pane (5)"),
    ("Schedules: show", "show_pane('schedules')", "Switch to the Schedules pane (6)"),
    ("Jobs: new job", "new_job", "Enqueue a command (n)"),
    ("Jobs: filter", "filter", "Filter jobs by text, state: or queue: (/)"),
    ("Jobs: clear filter", "clear_filter", "Show every job again"),
    ("Jobs: details of highlighted job", "pane('jobs', 'details')", "enter"),
    ("Jobs: retry highlighted job", "pane('jobs', 'retry')", "r"),
    ("Jobs: cancel highlighted job", "pane('jobs', 'cancel')", "c"),
    ("Jobs: delete highlighted job", "pane('jobs', 'delete')", "d, asks first"),
    ("Jobs: sort by next column", "pane('jobs', 'cycle_sort')", "o"),
    ("Jobs: mark or unmark highlighted job", "pane('jobs', 'toggle_mark')", "space"),
    ("Jobs: mark every job the filter matches", "pane('jobs', 'mark_all')", "ctrl+a"),
    ("Jobs: edit highlighted job", "pane('jobs', 'edit')", "e"),
    ("Jobs: clone highlighted job", "pane('jobs', 'clone')", "y"),
    ("Jobs: hold or release highlighted job", "pane('jobs', 'hold')", "h"),
    ("Jobs: release marked jobs", "pane('jobs', 'release')", "H, else the highlighted one"),
    ("Jobs: reverse the sort", "pane('jobs', 'reverse_sort')", "O"),
    ("DLQ: mark every dead job", "pane('dlq', 'mark_all')", "ctrl+a"),
    ("DLQ: delete highlighted or marked jobs", "pane('dlq', 'delete')", "d, asks first"),
    ("DLQ: edit highlighted job", "pane('dlq', 'edit')", "e, saving retries it"),
    ("DLQ: retry highlighted job", "pane('dlq', 'retry')", "r"),
    ("DLQ: retry all dead jobs", "pane('dlq', 'retry_all')", "R, asks first"),
    ("DLQ: purge dead jobs", "pane('dlq', 'purge')", "p, asks first"),
    ("Workers: start workers", "pane('workers', 'start')", "s, asks how many, slots"),
    ("Workers: stop highlighted worker", "pane('workers', 'stop')", "x, graceful"),
    ("Workers: stop all workers", "pane('workers', 'stop_all')", "X, asks first"),
    ("Workers: force-stop highlighted worker", "pane('workers', 'force_stop')", "K"),
    ("Workers: remove stopped and lost workers", "pane('workers', 'prune')", "P, asks first"),
    ("Config: edit highlighted key", "pane('config', 'edit')", "e / enter"),
    ("Config: reset highlighted key", "pane('config', 'reset')", "r, staged"),
    ("Config: save changes", "pane('config', 'save')", "ctrl+s"),
    ("Config: discard changes", "pane('config', 'discard')", "u"),
    ("Queues: pause or resume highlighted queue", "pane('queues', 'toggle_pause')", "p, asks"),
    ("Queues: limit highlighted queue", "pane('queues', 'limit')", "l, jobs running at once"),
    ("Queues: jobs of highlighted queue", "pane('queues', 'jobs')", "enter"),
    (
        "Schedules: pause or resume highlighted schedule",
        "pane('schedules', 'toggle_pause')",
        "p",
    ),
    ("Schedules: run highlighted schedule now", "pane('schedules', 'run_now')", "t, asks"),
    ("Schedules: jobs fired by highlighted schedule", "pane('schedules', 'jobs')", "enter"),
    ("Metrics: figures per queue, charted", "metrics", "m"),
    ("Refresh now", "refresh_now", "Read the database again"),
    ("Help: keys", "help", "?"),
    ("Quit", "quit", "q"),
]
"""(title, app action, help); each runs exactly what its key or button runs."""


OTHER_PANES_WEIGHT = 0.9
"""A match of another pane's row action scores this much of its own: the shown pane's
same action ranks above it, a clearly better match of another pane still does."""


def changes_something(action: str) -> bool:
    """Whether a palette action changes something (``CHANGING_ACTIONS``), be it the app's
    own (``new_job``) or a pane's (``pane('jobs', 'retry')``)."""
    if action.startswith("pane("):
        action = action.rsplit(",", 1)[-1].strip(" ')")
    return action in CHANGING_ACTIONS


class QueueCommands(Provider):
    """Offers every dashboard action in the command palette; a read-only one, only those
    that change nothing (it listed "Jobs: new job", "Workers: start workers"… each to be
    refused with a toast, where the key bar and buttons leave them out)."""

    def _runner(self, action: str) -> Callable[[], object]:
        app = cast("QueueApp", self.app)
        return partial(app.run_action, action)

    def _offered(self) -> list[tuple[str, str, str]]:
        offered = COMMANDS
        if getattr(self.app, "read_only", False):
            offered = [command for command in COMMANDS if not changes_something(command[1])]
        # The pane shown first: in the DLQ, "retry highlighted job" listed the Jobs pane's
        # first, and Enter retried a job of the hidden pane, unasked (a web user's try).
        return sorted(offered, key=lambda command: not self._of_this_pane(command[1]))

    def _of_this_pane(self, action: str) -> bool:
        return action.startswith(f"pane('{getattr(self.app, '_pane', '')}'")

    async def discover(self) -> Hits:
        for title, action, help_text in self._offered():
            yield DiscoveryHit(title, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._offered():
            score = matcher.match(title)
            if score > 0:
                if action.startswith("pane(") and not self._of_this_pane(action):
                    score *= OTHER_PANES_WEIGHT  # an equal match of the shown pane goes first
                yield Hit(score, matcher.highlight(title), self._runner(action), help=help_text)
