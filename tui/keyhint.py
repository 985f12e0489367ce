"""What a key that does nothing where it was pressed says: where it does something.

Silence read as a dashboard that had not heard the key: an all-day user pressed ``o``
in the DLQ (as in Jobs, to sort) and ``l`` on a worker, saw nothing happen, and pressed
again. The answer is built from the same bindings as the help, so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from tui.messages import CHANGING_ACTIONS
from tui.screens.help import EVERYWHERE, SECTION_TITLES, help_sections, key_label

PLACES_NAMED = 3
"""Places named for one meaning of a key; more read as a list, which the help is."""


def _keys(binding: Binding) -> set[str]:
    return {key.strip() for key in binding.key.split(",")}


def _meaning(key: str, bindings: Sequence[BindingType]) -> str | None:
    """What ``key`` does among ``bindings``, or ``None``."""
    for binding in bindings:
        if isinstance(binding, Binding) and key in _keys(binding):
            return binding.description
    return None


def _place(title: str) -> str:
    """A help title as a place: ``Jobs pane (1)`` → ``Jobs (1)``, ``Job detail (enter)`` →
    ``Job detail`` (the pane's number is how to get there; the rest is not)."""
    head, _, rest = title.partition(" (")
    number = rest.rstrip(")")
    return f"{head.removesuffix(' pane')} ({number})" if number.isdigit() else head


def does_nothing_here(
    key: str,
    here: type,
    app_bindings: Sequence[BindingType],
    *,
    shown: str | None = None,
    read_only: bool = False,
) -> str | None:
    """The line for ``key`` pressed in ``here`` (a pane or screen class), where no binding
    takes it; ``None`` where the help has no section for ``here``. A dialog's or a form's
    letters are answers and field text, not places to go, so they are not offered; nor,
    on a read-only dashboard, actions that change something (they are refused there).
    ``shown``: the key as typed (``?``, not Textual's ``question_mark``)."""
    title = SECTION_TITLES.get(here)
    if title is None:
        return None
    sections = {
        section: [
            binding
            for binding in bindings
            if not (
                read_only and isinstance(binding, Binding) and binding.action in CHANGING_ACTIONS
            )
        ]
        for section, bindings in help_sections(app_bindings)
    }
    label = shown or key_label(key)
    said = f"{label} does nothing in {_place(title)}"
    own = _meaning(key, sections[title])
    if own is not None:  # a key of this place, hidden where it does not apply now
        return f"{label} ({own}) does not apply here now"
    everywhere = _meaning(key, sections[EVERYWHERE])
    if everywhere is not None:  # an app key, which a screen over the panes leaves alone
        return f"{said}: {everywhere} is a key of the panes; esc goes back to them"
    modal = {SECTION_TITLES[cls] for cls in SECTION_TITLES if issubclass(cls, ModalScreen)}
    meanings: dict[str, list[str]] = {}
    for section, bindings in sections.items():
        if section == title or section in modal:
            continue
        for binding in bindings:
            if isinstance(binding, Binding) and key in _keys(binding):
                places = meanings.setdefault(binding.description, [])
                if section not in places:
                    places.append(section)
    if not meanings:
        return f"{said}. ? lists the keys"
    elsewhere = "; ".join(
        f"{meaning} in {', '.join(_place(place) for place in places[:PLACES_NAMED])}"
        for meaning, places in meanings.items()
    )
    return f"{said}: {elsewhere}. ? lists the keys"
