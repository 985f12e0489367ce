"""The one-way dependency, proven: the core and the CLI never load Textual.

``queuectl enqueue`` is called in loops by scripts; it must not pay Textual's
~400 ms import, nor Rich's, which only the table-printing commands need.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_modules(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "queuectl.cli",
        "queuectl.queue",
        "queuectl.db",
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
