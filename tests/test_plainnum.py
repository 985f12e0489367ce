"""Numbers read from text: ASCII digits only, and eight digits as a date."""

from __future__ import annotations

import pytest

from queuectl import config
from queuectl.errors import ValidationError
from queuectl.jobspec import queue_limit
from queuectl.plainnum import plain_float, plain_int
from queuectl.timeutil import parse_duration, parse_time


@pytest.mark.parametrize("text", ["1_0", "٣", "1 0", "", "+", "0x10", "1.0", "١٢"])
def test_plain_int_refuses_what_python_reads_loosely(text):
    with pytest.raises(ValueError):
        plain_int(text)


@pytest.mark.parametrize(("text", "value"), [("10", 10), (" 2 ", 2), ("-3", -3), ("+4", 4)])
def test_plain_int_reads_plain_digits(text, value):
    assert plain_int(text) == value


@pytest.mark.parametrize("text", ["1_0.5", "nan", "inf", "٣.5", "1e", ".", "1.2.3"])
def test_plain_float_refuses_what_python_reads_loosely(text):
    with pytest.raises(ValueError):
        plain_float(text)


@pytest.mark.parametrize(("text", "value"), [("1.5", 1.5), ("2e3", 2000.0), (".5", 0.5)])
def test_plain_float_reads_decimals(text, value):
    assert plain_float(text) == value


def test_settings_queue_limits_and_durations_refuse_separators_and_other_digits():
    for text in ("1_0", "٣"):
        with pytest.raises(ValidationError):
            config.SPECS["max_retries"].parse(text)
        with pytest.raises(ValidationError):
            queue_limit(text)
        with pytest.raises(ValidationError):
            parse_duration(f"{text}s")
    assert config.SPECS["max_retries"].parse("12") == 12
    assert queue_limit(" 3 ") == 3


def test_eight_digits_are_a_date_not_an_epoch_second_in_1970():
    assert parse_time("20261205") == parse_time("2026-12-05T00:00:00Z")
    assert parse_time("20261205T1000") == parse_time("2026-12-05T10:00:00Z")
    assert parse_time("1764900000") == 1764900000.0  # ten digits: epoch seconds, as before
    assert parse_time(20261205) == 20261205.0  # a JSON number is always epoch seconds
    with pytest.raises(ValidationError, match="20261305"):
        parse_time("20261305")
    with pytest.raises(ValidationError):
        parse_time("1_764_900_000")
