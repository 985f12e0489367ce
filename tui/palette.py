"""The 16 ANSI colours the dashboard draws its styles with, on a dark theme.

Textual draws named ANSI colours (``yellow``, ``magenta``: every state's style in
``queuectl.states.STATE_STYLES``) through a terminal theme of its own, MONOKAI on a
dark theme. That theme gives red and magenta one colour, (244, 0, 95), so a blocked
job (magenta) looked dead (bold red), and a held count looked like the red "no
worker" alarm; and its yellow, (253, 151, 31), is the orange of ``dark_orange``, so
pending and failed jobs were one colour. This is that theme with magenta a violet
pink and yellow Monokai's own yellow; every other colour is as Textual has it.
"""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme

DARK = TerminalTheme(
    (12, 12, 12),
    (217, 217, 217),
    [
        (26, 26, 26),
        (244, 0, 95),  # red: dead, lost, the alarms
        (152, 224, 36),
        (230, 219, 116),  # yellow: pending, paused, marks (was the orange of failed)
        (157, 101, 255),
        (214, 112, 214),  # magenta: blocked, held (was the red of dead)
        (88, 209, 235),
        (196, 197, 181),
    ],
    [
        (98, 94, 76),
        (244, 0, 95),
        (152, 224, 36),
        (224, 213, 97),
        (157, 101, 255),
        (236, 150, 236),
        (88, 209, 235),
        (246, 246, 239),
    ],
)
