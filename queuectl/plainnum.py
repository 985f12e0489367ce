"""Numbers as a person types them: ASCII digits, no separators.

Python's ``int`` and ``float`` also take ``1_0`` (ten) and digits of any script
(``٣``, three), so ``queue limit images 2_0`` set a limit of 20 and a typo became a
value. Every number queuectl reads from text goes through here instead; spaces
around it are still allowed, as ``int`` allows them.
"""

from __future__ import annotations

import re

INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
"""What ``float`` reads, less its underscores, other scripts' digits, ``nan`` and ``inf``."""


def plain_int(text: str) -> int:
    """``text`` as a whole number.

    Raises:
        ValueError: anything but optional spaces, a sign and ASCII digits.
    """
    stripped = text.strip()
    if not INTEGER.fullmatch(stripped):
        raise ValueError(f"not a whole number: {text!r}")
    return int(stripped)


def plain_float(text: str) -> float:
    """``text`` as a decimal number (``1.5``, ``2e3``).

    Raises:
        ValueError: as ``plain_int``, with a fraction and an exponent also allowed.
    """
    stripped = text.strip()
    if not DECIMAL.fullmatch(stripped):
        raise ValueError(f"not a number: {text!r}")
    return float(stripped)
