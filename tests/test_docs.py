"""Every command has help and is documented in README (as sqlite-utils checks its docs)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from queuectl.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text()


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from all_commands(command, path)


COMMANDS = list(all_commands())


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help or command.short_help, f"queuectl {' '.join(path)} has no help text"
    # click's IntRange printed "[1<=x<=4611686018427387904]" under list and dlq list.
    assert "4611686018427387904" not in result.output


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_is_in_the_readme(path):
    spelled = " ".join(path)
    # In the reference table subcommands follow their group: `dlq list` / `dlq retry ID…`.
    assert f"queuectl {spelled}" in README or f"`{spelled}" in README, (
        f"README does not mention `queuectl {spelled}`"
    )


def test_readme_names_the_test_command_ci_runs():
    assert "<!-- test-command -->" in README and "pytest" in README


def test_every_test_the_readme_names_exists():
    """The Guarantees table names the test behind each promise; a rename must not orphan it."""
    root = Path(__file__).parent.parent
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", README)
    assert named, "the README names no test"
    missing = [
        f"{path}::{name}"
        for path, name in named
        # a test function, or a test bound by name (a Hypothesis state machine's TestCase)
        if not re.search(rf"^((async )?def {name}\(|{name} = )", (root / path).read_text(), re.M)
    ]
    assert missing == []


def test_the_help_of_enqueue_edit_and_cancel_names_what_they_take():
    """``enqueue --help`` left out on_success, on_failure and tty; ``edit --help`` said
    every key but "id" (it refuses "after" too); ``cancel --help`` left out blocked jobs
    (a newcomer's try)."""
    from queuectl.jobspec import ALLOWED_KEYS
    from queuectl.lifecycle.edit import EDITABLE_KEYS

    def shown(*args: str) -> str:
        return " ".join(CliRunner().invoke(cli, [*args, "--help"]).output.split())

    enqueue = shown("enqueue")
    assert all(re.search(rf"\b{key}\b", enqueue) for key in ALLOWED_KEYS), enqueue
    not_editable = [key for key in ALLOWED_KEYS if key not in EDITABLE_KEYS]
    quoted = [f'"{key}"' for key in not_editable]
    said = f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    assert f"Any key enqueue takes but {said}." in shown("edit")
    assert "every pending, blocked, failed or running job" in shown("cancel")
