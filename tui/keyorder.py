"""Keys typed in a burst act in order, each on what the keys before it made.

Textual hands a key to the focused widget and runs a binding only when the
key comes back up to the app, behind every key already queued; a new screen
takes its first focus only once mounted. So keys delivered together (a fast
typist, a paste, a slow ssh link, or any key typed while a refresh is being
drawn) went to whatever had the focus *before*: in ``/error`` the ``r``
reached the jobs table and retried the highlighted job and a ``q`` quit the
app; ``3s`` lost its ``s``; ``n`` then ``echo`` gave an empty command.

``KeyOrderApp`` handles each key to the end before the next: it waits for a
screen that is still opening, then runs the key's binding at once (the same
binding Textual would pick: ``Screen.active_bindings``), except for a
printable key in a text field, which is typed there as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial

from textual import events
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.command import CommandPalette
from textual.screen import Screen
from textual.widget import AwaitMount, Widget
from textual.widgets import Input

from tui.inputs import OrderedInput

KEY_WAIT_SECONDS = 2.0
SUBMIT_WAIT_SECONDS = 0.3
"""Longest the key after an ``enter`` in a field waits for that enter to move the focus."""
"""Longest a key waits for a screen to open; one that never mounts cannot hold the keyboard."""


def focus_now(widget: Widget) -> None:
    """Give ``widget`` the focus before the next key is handled (``focus()`` is deferred)."""
    widget.screen.set_focus(widget)


async def _mounted(screen: Screen[object]) -> None:
    await AwaitMount(screen, [screen])


def read_meta_keys_as_escape() -> None:
    """Escape then ``1`` is two keys, however close together they arrive.

    A terminal sends Alt+1 as ESC ``1``, and so Escape then ``1`` reads as Alt+1 when
    both are read at once: typed within tmux's ``escape-time`` (500 ms before tmux 3.5,
    which then sends them together as M-1), or within Textual's 100 ms, or behind a
    busy refresh. Textual reads ESC plus a digit, ``-``, ``=`` or ``§`` as the
    character macOS's Option key would type (``¡``, ``™``, ``£`` …), which went into
    an open form's field: Escape, ``1``, Enter enqueued a job whose command was ``¡``.
    Without those entries the pair reads as ``alt+1``, which ``KeyOrderApp`` splits
    into Escape and ``1``: the dashboard binds no Alt key. (The entries that mean a
    key, such as ESC ``b`` for ctrl+left, stay.) Typed directly, ``£`` still arrives
    as its own character.
    """
    for sequence, meaning in list(ANSI_SEQUENCES_KEYS.items()):
        if len(sequence) == 2 and sequence[0] == "\x1b" and isinstance(meaning, str):
            del ANSI_SEQUENCES_KEYS[sequence]  # type: ignore[attr-defined]


def _meta(event: events.Key) -> str | None:
    """The character of an Alt key (``alt+1``: ``1``), or ``None`` for any other key."""
    character = event.character
    if event.key.startswith("alt+") and character and len(character) == 1:
        return character if character.isprintable() else None
    return None


HOLD_SECONDS = 20.0
"""Longest keys wait for a question being read (``hold_keys``); past it they are dropped.
More than the database's busy timeout, which a read waiting for a lock ends with."""


ANSWERS = ("y", "n")
"""The keys that answer a question (``ConfirmScreen``)."""

ANSWER_GRACE_SECONDS = 1.5
"""How soon after a refused question a ``y`` or ``n`` is taken for its answer (dropped)."""


class KeyOrderApp(App[None]):
    """An app whose keys are handled one after the other, in the order typed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        read_meta_keys_as_escape()
        self._held: list[events.Key] | None = None
        self._hold = 0
        self._let_go = 0
        self._unasked_until = 0.0
        """Until when the next key, if an answer, answers a question that was not asked."""
        self._unasked_keys: tuple[str, ...] = ANSWERS
        """The answers dropped meanwhile (after a question answered, only ``y``)."""

    def no_question_asked(self, answers: tuple[str, ...] = ANSWERS) -> None:
        """A key that asks first was refused without asking (``c`` on a job that completed
        since the last refresh): the ``y`` typed with it, ``c y`` in one gesture, ran as
        the Jobs pane's ``y``, clone, and the job ran again. The next key, if it is an
        answer typed within ``ANSWER_GRACE_SECONDS``, is dropped instead."""
        self._unasked_until = time.monotonic() + ANSWER_GRACE_SECONDS
        self._unasked_keys = answers

    def _answers_nothing(self, event: events.Key) -> bool:
        """Whether ``event`` is an answer to the question just refused (and ends the wait
        for one: only the key right after the refusal is taken for its answer)."""
        unasked, self._unasked_until = self._unasked_until, 0.0
        return event.key in self._unasked_keys and time.monotonic() < unasked

    def hold_keys(self) -> int:
        """Keys typed from now wait for a question that a read off the UI thread opens.

        ``c`` reads which blocked jobs would go with the job before it asks, so ``c`` and
        ``y`` typed together ran ``y``, clone, on the highlighted job while the read was
        under way; and when the read failed no question came at all, and ``y`` cloned
        the job the user meant to cancel. Held, the keys go to the question once it is
        open (``let_keys_go`` with ``replay``), or are dropped when it is not asked.
        Returns the hold's number, for ``let_keys_go``.
        """
        self._hold += 1
        if self._held is None:
            self._held = []
        # Else a key replayed to the last question asked another (``c y d y``): the keys
        # after it stay held, in order, for the new one.
        self.set_timer(HOLD_SECONDS, partial(self.let_keys_go, self._hold, replay=False))
        return self._hold

    def let_keys_go(self, hold: int, *, replay: bool) -> None:
        """End hold ``hold``: its keys to the screen now open (``replay``), or dropped.
        A hold already ended, or followed by another, is left alone."""
        if hold != self._hold or self._held is None or hold == self._let_go:
            return
        self._let_go = hold  # once: the read's own end drops nothing after its question
        if replay and self._held:
            self.run_worker(self._replay(hold), group="held-keys")
        else:
            self._held = None

    async def _replay(self, hold: int) -> None:
        """The held keys in order, then those typed while they ran, then no more holding;
        unless one of them started another hold, which keeps the rest."""
        while self._held and hold == self._hold:
            await self._key_in_order(self._held.pop(0))
        if hold == self._hold:
            self._held = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._held is not None:
                self._held.append(event)
                return
            await self._key_in_order(event)
            return
        await super().on_event(event)

    async def _key_in_order(self, event: events.Key) -> None:
        """One key, handled to its end: an Alt key split, a screen opening waited for,
        the binding run now; else Textual's usual path. (Not ``_on_key``: Textual
        dispatches every ``Key`` to a method of that name, and so back here.)"""
        if (character := _meta(event)) is not None:
            # Escape, then the key: what was typed (``read_meta_keys_as_escape``).
            if isinstance(self.screen, CommandPalette):
                # Its keys go Textual's way, queued to it (``_bound_now``): the key after
                # the escape reached the closing palette and was lost. Closed here, now.
                await self.run_action("escape", self.screen)
            else:
                await self._key_in_order(events.Key("escape", "\x1b"))
            for key in XTermParser()._sequence_to_key_events(character):
                await self._key_in_order(key)
            return
        # A key means the app has the focus: Textual sets this in ``App.on_event``, which
        # a key run here never reaches. Blurred, a new screen focuses nothing, and
        # Textual's web driver blurs the app at start-up, at times after the browser's
        # focus: ``n`` then opened a form that dropped what was typed.
        self.app_focus = True
        if self._answers_nothing(event):
            self.notify(
                f"{event.key} ignored: no question was asked", severity="warning", markup=False
            )
            return
        screen = self.screen
        if not screen.is_mounted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_mounted(screen), KEY_WAIT_SECONDS)
        if await self._bound_now(event):
            return
        if (
            event.is_printable
            and not isinstance(self.focused, Input)
            and event.key not in self.screen.active_bindings
        ):
            self.key_unbound(event.key, event.character or event.key)
        field = self.focused if event.key == "enter" else None
        await super().on_event(event)
        if isinstance(field, Input):
            await self._submitted_handled(field)

    async def _submitted_handled(self, field: Input) -> None:
        """Wait, briefly, for an ``enter`` sent to ``field`` to take the focus from it, as
        every field's enter does (the filter box's to the rows, the log search's to the
        view, a form's or the Config editor's closing it): keys typed after the enter
        went on into the box (``/fail`` enter ``dy`` filtered on ``faildy``) and the
        log's ``n n`` were lost (a keyboard user's try). The enter, and the message it
        posts, are handled in the field's and its ancestors' queues, after this key."""
        deadline = time.monotonic() + SUBMIT_WAIT_SECONDS
        while self.focused is field and field.is_attached and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    def key_unbound(self, key: str, character: str) -> None:
        """A printable key that no binding of the screen takes, pressed outside a field
        (``character``: as typed, ``?`` where ``key`` is Textual's ``question_mark``)."""

    async def _bound_now(self, event: events.Key) -> bool:
        """Run the key's binding now; ``False`` leaves the key to Textual's usual path."""
        if event.is_printable and isinstance(self.focused, Input):
            return False  # typed into the field (Input takes printable keys before bindings)
        if isinstance(self.screen, CommandPalette):
            # Textual's own screen: its keys go Textual's way. The first binding found for
            # ``down`` here is a container's scroll, which does nothing and lets Textual
            # try the next (the palette's cursor); run at once, the cursor never moved.
            return False
        active = self.screen.active_bindings.get(event.key)
        if active is None or not active.enabled:
            return False
        if active.node is self.focused and isinstance(active.node, OrderedInput):
            return False  # an edit key of the field: it runs it in line with the typing
        await self._focused_caught_up()
        await self.run_action(active.binding.action, active.node)
        return True

    async def _focused_caught_up(self) -> None:
        """Wait until the focused widget has handled the keys already sent to it.

        Printable keys reach a field through its own queue, while a binding runs here
        at once: ``echo hello`` then ctrl+s in one burst saved ``echo h`` (the job form,
        the Config pane), because the save ran with the last letters still queued.
        """
        focused = self.focused
        if focused is None:
            return
        caught_up = asyncio.Event()
        if focused.call_later(caught_up.set):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(caught_up.wait(), KEY_WAIT_SECONDS)
