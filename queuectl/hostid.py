"""Which host this process is on, as recorded on Worker and Run rows.

Recovery checks process ids only for workers on its own host, so two
machines must never share a name. Containers often do (every pod can be
``localhost`` or an image default): set ``QUEUECTL_HOSTNAME`` to something
unique per machine in that case.
"""

from __future__ import annotations

import os
import socket

ENV_VAR = "QUEUECTL_HOSTNAME"


def this_host() -> str:
    return os.environ.get(ENV_VAR) or socket.gethostname()
