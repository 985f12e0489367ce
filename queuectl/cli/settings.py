"""``queuectl config``: list, get, set and reset the typed settings."""

from __future__ import annotations

import click

from queuectl.cli.common import (
    AppContext,
    QueuectlGroup,
    db_option,
    emit_json,
    json_option,
    pass_app,
)
from queuectl.textsafe import one_line


def _print_settings(app: AppContext, keys: list[str] | None, as_json: bool) -> None:
    from queuectl import config
    from queuectl.lifecycle import settings

    app.open()
    values = settings.load()
    keys = keys or list(config.SPECS)
    if as_json:
        if len(keys) == 1:
            emit_json(values[keys[0]])
        else:
            emit_json({key: values[key] for key in keys})
        return
    if len(keys) == 1:
        # Inert, as every value the text output shows (a hook command may hold escapes,
        # and a database may be someone else's); ``--json`` gives it exactly.
        click.echo(one_line(str(values[keys[0]])))
        return
    from rich.table import Table
    from rich.text import Text

    from queuectl.cli.render import console

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("KEY", "VALUE", "DEFAULT", "RANGE", "DESCRIPTION"):
        table.add_column(name, no_wrap=name != "DESCRIPTION")
    for key in keys:
        spec = config.SPECS[key]
        value = values[key]
        # Text, not markup: a hook command is the user's text, shown as typed.
        table.add_row(
            key,
            Text(one_line(str(value)), style="bold" if value != spec.default else ""),
            Text(one_line(str(spec.default))),
            spec.range_text,
            spec.description,
        )
    console().print(table)


@click.group(cls=QueuectlGroup, invoke_without_command=True)
@db_option
@json_option
@pass_app(read_only=True)
@click.pass_context
def config(ctx: click.Context, app: AppContext, as_json: bool) -> None:
    """Show or change settings (with no subcommand: list them all)."""
    if ctx.invoked_subcommand is None:
        _print_settings(app, None, as_json)


@config.command(name="list")
@db_option
@json_option
@pass_app(read_only=True)
def config_list(app: AppContext, as_json: bool) -> None:
    """Every setting with its value, default, range and description."""
    _print_settings(app, None, as_json)


@config.command(name="get")
@click.argument("key", required=False)
@db_option
@json_option
@pass_app(read_only=True)
def config_get(app: AppContext, key: str | None, as_json: bool) -> None:
    """One setting's value (with no KEY: all of them)."""
    from queuectl.config import normalize_key

    _print_settings(app, [normalize_key(key)] if key is not None else None, as_json)


def _setting(key: str, value: object) -> dict[str, object]:
    """A setting as ``--json`` prints a changed one."""
    from queuectl import config

    return {"key": key, "value": value, "default": config.SPECS[key].default}


@config.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@db_option
@json_option
@pass_app
def config_set(app: AppContext, key: str, value: str, as_json: bool) -> None:
    """Change a setting; the value is checked against its type and range."""
    from queuectl import config
    from queuectl.lifecycle import settings

    normal = config.normalize_key(key)
    config.SPECS[normal].parse(value)  # validate before touching the database
    app.open()
    stored = settings.set_value(normal, value)
    if as_json:
        emit_json(_setting(normal, stored))
    else:
        click.echo(f"{normal} = {one_line(str(stored))}")


@config.command(name="reset")
@click.argument("key", required=False)
@db_option
@json_option
@pass_app
def config_reset(app: AppContext, key: str | None, as_json: bool) -> None:
    """Back to the default: one KEY, or every setting."""
    from queuectl import config
    from queuectl.lifecycle import settings

    # An empty KEY is a key that names nothing, refused as `get ''` refuses it: taken
    # as no KEY, `config reset "$KEY"` with the variable unset reset every setting.
    keys = [config.normalize_key(key)] if key is not None else None
    app.open()
    names = settings.reset(keys[0] if keys else None)
    if as_json:
        emit_json([_setting(name, config.SPECS[name].default) for name in names])
        return
    for name in names:
        click.echo(f"{name} = {one_line(str(config.SPECS[name].default))}")
