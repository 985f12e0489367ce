"""Make untrusted text (commands, job output) safe to put on a terminal.

A job's output may hold escape sequences that recolour the screen, move the
cursor, set the window title or write the clipboard (OSC 52). Everything
queuectl shows of it goes through here first: control characters become
visible symbols, so the text is shown as it is and never acted on.
"""

from __future__ import annotations

import re

# C0 controls become their Unicode "control picture" (ESC -> U+241B), DEL -> U+2421.
_C0_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)}
_C0_PICTURES[0x7F] = "\u2421"
_C1 = re.compile("[\x80-\x9f]")
_KEEP_IN_BLOCKS = {ord("\n"): "\n", ord("\t"): "\t"}


def inert(text: str | None, *, single_line: bool = False) -> str:
    """``text`` with every control character made visible.

    Args:
        single_line: for table cells: newlines and tabs become visible too, so
            one job stays one row.

    Newlines and tabs are kept otherwise; ``\\r\\n`` becomes ``\\n`` and a lone
    ``\\r`` (progress bars) starts a new line instead of overwriting one.
    """
    if not text:
        return ""
    if not single_line:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    table = dict(_C0_PICTURES)
    if not single_line:
        table.update(_KEEP_IN_BLOCKS)
    else:
        table[ord("\n")] = "\u23ce"  # ⏎
        table[ord("\t")] = " "
    text = text.translate(table)
    return _C1.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def one_line(text: str | None, width: int | None = None) -> str:
    """``inert`` for a table cell, cut to ``width`` characters with an ellipsis."""
    flat = inert(text, single_line=True)
    if width is not None and len(flat) > width:
        return flat[: max(0, width - 1)] + "…"
    return flat
