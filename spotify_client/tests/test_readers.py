"""The client's readers of odd values: a Retry-After, a play's time.

Spotify (or whatever stands in its way) may send "²", a time past year 9999 or
nothing at all; each reads as "none", never as an exception. The dashboard's
side of the same answers: spotify_stats/tests/test_odd_answers.py.
"""

import pytest
import requests

from spotify_client import objects, transport

FAR_FUTURE = "9999-12-31T23:59:59-01:00"  # UTC is past year 9999


def _answer_with_retry_after(value):
    response = requests.Response()
    response.status_code = 429
    response.headers["Retry-After"] = value
    return response


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7), (" 30 ", 30), ("²", None), ("٣", None), ("-1", None), ("1.5", None), ("", None)],
)
def test_retry_after_reads_only_ascii_digits(value, expected):
    assert transport._retry_after(_answer_with_retry_after(value)) == expected


@pytest.mark.parametrize("value", [FAR_FUTURE, "0001-01-01T00:00:00+01:00", "not a time", 17, None])
def test_parse_time_gives_none_for_what_it_cannot_read(value):
    assert objects._parse_time(value) is None


def test_parse_time_reads_spotifys_times_as_utc():
    moment = objects._parse_time("2026-05-01T12:30:00.123Z")

    assert moment.isoformat() == "2026-05-01T12:30:00.123000+00:00"
