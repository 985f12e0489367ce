"""``textsafe``: what reaches a terminal of untrusted text, case by case."""

from __future__ import annotations

import pytest

from queuectl.textsafe import MARKS_KEPT, inert, inert_in_place, keep_sgr, one_line


@pytest.mark.parametrize(
    "hidden",
    ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u061c", "\u200b", "\ufeff", "\u2028"],
)
def test_invisible_and_reordering_characters_are_shown_as_escapes(hidden):
    """Trojan Source: an override makes a terminal show the rest of the line reversed."""
    text = f"rm -rf ~ #{hidden}gnp.exe"
    shown = inert(text)
    assert hidden not in shown
    assert shown == f"rm -rf ~ #\\u{ord(hidden):04x}gnp.exe"
    assert hidden not in one_line(text) and hidden not in keep_sgr(text)


@pytest.mark.parametrize(
    ("hidden", "escape"),
    [
        ("\U000e0069\U000e0064", "\\U000e0069\\U000e0064"),  # tags: an invisible "id"
        ("\u2064", "\\u2064"),  # invisible plus
        ("\u206a", "\\u206a"),  # a deprecated format control
        ("\u180e", "\\u180e"),
        ("\u034f", "\\u034f"),
        ("\u00ad", "\\xad"),  # the soft hyphen
        ("\ufff9", "\\ufff9"),
        # Supplementary variation selectors: a byte each ("emoji smuggling").
        ("\U000e0100\U000e01ef", "\\U000e0100\\U000e01ef"),
        ("\ufe00\ufe0f\ufe01", "\\ufe00\\ufe0f\\ufe01"),  # a run selects nothing
        ("\u3164", "\\u3164"),  # Hangul fillers
        ("\u115f\u1160", "\\u115f\\u1160"),
        ("\uffa0", "\\uffa0"),
    ],
)
def test_characters_that_draw_nothing_are_shown_as_escapes(hidden, escape):
    """Tag characters carry a copy of ASCII text that no terminal draws ("ASCII
    smuggling"); these were printed raw by ``logs``, ``show`` and ``list``."""
    text = f"echo ok{hidden} done"
    assert inert(text) == f"echo ok{escape} done"
    assert hidden not in one_line(text) and hidden not in keep_sgr(text)
    assert len(inert_in_place(text)) == len(text)


DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]  # fmt: skip
"""Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): what a terminal
draws as nothing."""
KEPT_ALONE = {0x200C, 0x200D, *range(0x180B, 0x180E), 0x180F, *range(0xFE00, 0xFE10)}
"""The joiners, and a variation selector after its character (shown as escapes in a run)."""


def test_every_character_drawn_as_nothing_is_shown_as_its_escape():
    """``echo rm`` and four musical beam controls before `` -rf`` printed as ``echo rm
    -rf`` in ``list`` and ``show``: only some of Unicode's ignorables were escaped."""
    for first, last in DEFAULT_IGNORABLE:
        for code in range(first, last + 1):
            hidden = chr(code)
            shown = inert(f"echo rm{hidden}{hidden} -rf")
            if code in KEPT_ALONE:
                assert shown.count(hidden) == (2 if code in (0x200C, 0x200D) else 0), hex(code)
            else:
                assert hidden not in shown, hex(code)
            assert hidden not in one_line(f"rm{hidden}{hidden}") or code in (0x200C, 0x200D)


def test_an_emojis_own_variation_selector_stays():
    """One selector picks the form of the character before it: ❤️ is U+2764 U+FE0F."""
    assert inert("love \u2764\ufe0f and \u263a\ufe0e") == "love \u2764\ufe0f and \u263a\ufe0e"


def test_joiners_and_right_to_left_letters_stay():
    """Emoji sequences and several scripts need the joiners; Hebrew is text, not a control."""
    for text in ("👩\u200d💻 done", "ok \u05e9\u05dc\u05d5\u05dd", "कि\u200cसी"):
        assert inert(text) == text


def test_a_run_of_combining_marks_is_cut_to_what_a_script_needs_and_counted():
    """12 MB of marks on one letter froze the log view for over a minute (every repaint
    sent them all to the terminal), and 5,000 of them shifted ``list``'s columns."""
    shown = inert("a" + "\u0301" * 5000 + "b")
    assert shown == "a" + "\u0301" * MARKS_KEPT + "[+4,970 marks]b"
    # Hebrew points, Devanagari and Thai marks count alike: Unicode's Mn, not one block.
    for mark in ("\u05b8", "\u0941", "\u0e31", "\U0001e944"):
        assert inert("x" + mark * 100, single_line=True).endswith(f"[+{100 - MARKS_KEPT} marks]")
    assert one_line("a" + "\u0301" * 100, 20).endswith("…") and len(one_line("a" * 9)) == 9
    coloured = keep_sgr("\x1b[31ma" + "\u0301" * 1000 + "\x1b[0m")
    assert "[+970 marks]" in coloured and coloured.startswith("\x1b[31m")


@pytest.mark.parametrize(
    "text",
    [
        "Tiếng Việt: Người ữ ặ",  # stacked diacritics, precomposed and not
        "Tie\u0302\u0301ng Vie\u0323\u0302t",  # the same, decomposed
        "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd",  # Hebrew with points
        "क्षत्रिय \u0915\u094d\u0937",  # Devanagari's virama and vowel signs
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319",  # zalgo, short
        "👩\u200d💻 ❤\ufe0f 👍🏽 " + "中文" * 100,
    ],
)
def test_text_any_script_writes_is_left_alone(text):
    expected = text.replace("\u034f", "\\u034f")  # the grapheme joiner: ignorable, shown
    assert inert(text) == expected


def test_in_place_cuts_a_run_of_marks_without_moving_an_index():
    text = "a" + "\u0301" * 50 + "b"
    shown = inert_in_place(text)
    assert len(shown) == len(text) and shown.endswith("\ufffd" * 20 + "b")


def test_c1_controls_keep_their_byte_form():
    assert inert("a\x9b2Jb\x85") == "a\\x9b2Jb\\x85"


def test_in_place_keeps_every_index_on_its_character():
    text = "a\x1b]52;c;Q0ZH\x07b\u202ec\nd\te\x85\x7f"
    shown = inert_in_place(text)
    assert len(shown) == len(text)
    assert shown == "a␛]52;c;Q0ZH␇b\ufffdc⏎d\te\ufffd␡"
    assert inert_in_place("plain") == "plain"


@pytest.mark.parametrize(
    ("sequence", "kept"),
    [
        ("\x1b[8m", ""),
        ("\x1b[08m", ""),
        ("\x1b[1;8;31m", "\x1b[1;31m"),
        ("\x1b[38;5;8m", "\x1b[38;5;8m"),  # colour 8 (grey), not a conceal
        ("\x1b[48;2;8;8;8;8m", "\x1b[48;2;8;8;8m"),  # an RGB of eights, then a conceal
        ("\x1b[38:5:8m", "\x1b[38:5:8m"),
        ("\x1b[28m", "\x1b[28m"),  # reveal stays
        ("\x1b[m", "\x1b[m"),
        ("\x1b[5;32m", "\x1b[32m"),
        ("\x1b[6m", ""),
        ("\x1b[38;5;5;5m", "\x1b[38;5;5m"),  # colour 5, then a blink
        ("\x1b[25m", "\x1b[25m"),  # blink off stays
        # Terminals read leading zeros: 008 is a conceal, 006 a blink, 038 a colour.
        ("\x1b[008m", ""),
        ("\x1b[0008m", ""),
        ("\x1b[1;008m", "\x1b[1m"),
        ("\x1b[006m", ""),
        ("\x1b[8:0m", ""),
        ("\x1b[038;5;8m", "\x1b[038;5;8m"),
        ("\x1b[38;05;8;008m", "\x1b[38;05;8m"),
    ],
)
def test_kept_colours_lose_only_blink_and_conceal(sequence, kept):
    """``ESC[8m`` would hide the output after it, in ``logs`` and the dashboard alike;
    README promises colours, bold and underline, not blinking."""
    assert keep_sgr(f"{sequence}secret", reset=False) == f"{kept}secret"


DEFAULTS = ";39;49m"
"""What a sequence that would hide its text gets appended: the terminal's own colours."""


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("\x1b[30;40mX", "\x1b[30;40" + DEFAULTS + "X"),
        ("\x1b[38;5;16;48;5;16mX", "\x1b[38;5;16;48;5;16" + DEFAULTS + "X"),
        ("\x1b[38;5;16m\x1b[48;5;232mX", "\x1b[38;5;16m\x1b[48;5;232" + DEFAULTS + "X"),
        ("\x1b[38;2;1;1;1;48;2;0;0;0mX", "\x1b[38;2;1;1;1;48;2;0;0;0" + DEFAULTS + "X"),
        ("\x1b[38:2::5:5:5;48:2::0:0:0mX", "\x1b[38:2::5:5:5;48:2::0:0:0" + DEFAULTS + "X"),
        ("\x1b[38;05;196;48;05;9mX", "\x1b[38;05;196;48;05;9" + DEFAULTS + "X"),  # 05 is 5
        ("\x1b[31m\x1b[41mX", "\x1b[31m\x1b[41" + DEFAULTS + "X"),  # set apart, red on red
        # Legible pairs stay as they were, and a reset or a default forgets a colour.
        ("\x1b[30;42m PASS ", "\x1b[30;42m PASS "),
        ("\x1b[97;41mX", "\x1b[97;41mX"),
        ("\x1b[30m\x1b[0m\x1b[40mX", "\x1b[30m\x1b[0m\x1b[40mX"),
        ("\x1b[30m\x1b[39m\x1b[40mX", "\x1b[30m\x1b[39m\x1b[40mX"),
        ("\x1b[30;40;49mX", "\x1b[30;40;49mX"),
    ],
)
def test_text_in_the_colour_of_its_background_is_shown_in_the_terminals_colours(text, kept):
    """Black on black hides text as conceal does (an attacker's review: a job could print
    what the user never sees); the terminal's own colours always show it."""
    assert keep_sgr(text, reset=False) == kept
