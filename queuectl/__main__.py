"""``python -m queuectl``: the CLI, also how the supervisor starts detached workers."""

from __future__ import annotations

from queuectl.entry import main

if __name__ == "__main__":
    main()
