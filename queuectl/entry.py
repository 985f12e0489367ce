"""The ``queuectl`` command's first moments: Ctrl+C while the CLI still loads exits 130.

Importing the CLI (click, and the core it pulls in) takes a tenth of a second or more;
a Ctrl+C in that window ended the process with Python's traceback and a death by
SIGINT, where every command answers it with a quiet exit 130 (``cli.common``).
"""

from __future__ import annotations

import sys

INTERRUPTED = 130
"""Exit code after Ctrl+C (128 + SIGINT), for every command alike (``cli.common``)."""


def main() -> None:
    try:
        from queuectl.cli import main as run
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    run()
