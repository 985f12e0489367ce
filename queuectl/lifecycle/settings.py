"""The stored settings: their effective values, and changing them (``queuectl config``).

What each setting means, its range and its default are ``config``'s (pure);
this is where they meet the database's ``queuectl_setting`` table.
"""

from __future__ import annotations

import json

from queuectl import config
from queuectl.errors import ValidationError
from queuectl.store.boundary import translated
from queuectl.store.models import Setting
from queuectl.store.transactions import write_transaction


@translated
def load() -> dict[str, config.Value]:
    """Every setting's effective value: the stored override or the default.

    A stored value that no longer validates (written by hand, or by a release
    with wider ranges) falls back to the default rather than breaking workers.
    """
    values: dict[str, config.Value] = {key: spec.default for key, spec in config.SPECS.items()}
    for row in Setting.select():
        spec = config.SPECS.get(row.key)
        if spec is None:
            continue
        try:
            values[row.key] = spec.parse(json.loads(row.value))
        except (ValidationError, ValueError):
            continue
    return values


@translated
def get(key: str) -> config.Value:
    return load()[config.normalize_key(key)]


@translated
def set_value(key: str, raw: object) -> config.Value:
    """Validate and store one setting; returns the value as stored.

    Raises:
        ValidationError: unknown key, wrong type or out of range; nothing is written.
    """
    spec = config.SPECS[config.normalize_key(key)]
    value = spec.parse(raw)
    with write_transaction():
        _store(spec, value)
    return value


@translated
def apply(changes: dict[str, object | None]) -> list[str]:
    """Store several changes at once, all or none: a value per key, ``None`` for its
    default. The dashboard saves its staged edits so: one by one, a failure part way
    (a lock held past the wait) stored some and lost track of which.

    Raises:
        ValidationError: an unknown key or a refused value; nothing is written.
    """
    parsed = []
    for key, raw in changes.items():
        spec = config.SPECS[config.normalize_key(key)]
        parsed.append((spec, spec.default if raw is None else spec.parse(raw)))
    with write_transaction():
        for spec, value in parsed:
            _store(spec, value)
    return [spec.key for spec, _ in parsed]


def _store(spec: config.SettingSpec, value: config.Value) -> None:
    """One setting's row: none for its default (so a later release's default applies)."""
    if value == spec.default:
        Setting.delete().where(Setting.key == spec.key).execute()
    else:
        encoded = json.dumps(value)
        Setting.insert(key=spec.key, value=encoded).on_conflict(
            conflict_target=[Setting.key], update={Setting.value: encoded}
        ).execute()


@translated
def reset(key: str | None = None) -> list[str]:
    """Back to the default: one key, or every key when ``key`` is ``None``."""
    keys = [config.normalize_key(key)] if key else list(config.SPECS)
    with write_transaction():
        Setting.delete().where(Setting.key.in_(keys)).execute()
    return keys
