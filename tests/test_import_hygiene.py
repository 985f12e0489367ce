"""The one-way dependency, proven: the core and the CLI never load Textual.

``queuectl enqueue`` is called in loops by scripts; it must not pay Textual's
~400 ms import, nor Rich's, which only the table-printing commands need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def loaded_modules(code: str) -> set[str]:
    # (A None entry marks a module blocked from loading, not a loaded one.)
    probe = (
        f"{code}\nimport sys, json\n"
        "print(json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "queuectl.cli",
        "queuectl.lifecycle.finish",
        "queuectl.runtime.worker",
        "queuectl.store.db",
        "queuectl.config",
    ],
)
def test_core_never_imports_textual_or_tui(module):
    modules = loaded_modules(f"import {module}")
    assert not {m for m in modules if m == "textual" or m.startswith(("textual.", "tui"))}


def test_enqueue_path_does_not_import_rich(tmp_path):
    code = (
        "import sys\n"
        "from queuectl.cli import cli\n"
        f"sys.argv = ['queuectl', '--db', {str(tmp_path / 'q.db')!r}, 'enqueue', "
        '\'{"command": "true"}\']\n'
        "try:\n    cli.main(standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    modules = loaded_modules(code)
    assert "rich" not in modules
    assert "textual" not in modules


def test_a_command_on_sqlite_never_loads_a_postgresql_driver(tmp_path):
    # peewee imports psycopg at its own import when installed: a third of a CLI call.
    code = (
        "import sys\n"
        "from queuectl.cli import cli\n"
        f"sys.argv = ['queuectl', 'enqueue', '--db', {str(tmp_path / 'q.db')!r}, "
        '\'{"command": "true"}\']\n'
        "try:\n    cli.main(standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    modules = loaded_modules(code)
    assert "peewee" in modules
    assert not {m for m in modules if m.startswith(("psycopg", "psycopg2"))}


def test_a_postgresql_url_given_after_the_command_still_gets_its_driver(pg_url):
    result = subprocess.run(
        [sys.executable, "-m", "queuectl", "enqueue", "--db", pg_url, '{"command": "true"}'],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "QUEUECTL_DB"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 8  # the new job's id
