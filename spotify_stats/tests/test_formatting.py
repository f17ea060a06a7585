"""The small words and numbers of the page: durations, ages, initials."""

import pytest

import spotify_client
from spotify_stats.dashboard import DEFAULT_TIME_RANGE, parse_time_range
from spotify_stats.rendering import failure_message
from spotify_stats.templatetags.dashboard_tags import avatar_colour, duration, initials
from spotify_stats.text import ago


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [
        (0, "0:00"),
        (59_999, "0:59"),
        (61_000, "1:01"),
        (343_500, "5:43"),
        (3_723_000, "1:02:03"),
        (None, ""),
    ],
)
def test_a_duration_reads_as_minutes_and_seconds(milliseconds, text):
    assert duration(milliseconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "just now"),
        (59, "just now"),
        (60, "1 minute ago"),
        (12 * 60 + 59, "12 minutes ago"),
        (3600, "1 hour ago"),
        (5 * 3600 + 1, "5 hours ago"),
        (86400, "1 day ago"),
        (3 * 86400, "3 days ago"),
    ],
)
def test_an_age_reads_like_a_person_would_say_it(seconds, text):
    assert ago(seconds) == text


@pytest.mark.parametrize(
    ("name", "letters"),
    [
        ("Alice Liddell", "AL"),
        ("bob", "B"),
        ("Zoë 🎧 Ångström 坂本", "ZÅ"),
        ('<script>alert("x")</script>', "S"),
        ("坂本龍一", "坂"),
        ("🎧", "?"),
        ("", "?"),
    ],
)
def test_initials_take_the_first_letters_of_the_first_two_words(name, letters):
    assert initials(name) == letters


def test_a_listener_keeps_one_avatar_colour():
    assert avatar_colour(42) == avatar_colour("42")
    assert {avatar_colour(n) for n in range(200)} == set(range(8))


def test_only_the_three_spotify_time_ranges_are_taken():
    assert parse_time_range("short_term") == "short_term"
    assert parse_time_range("long_term") == "long_term"
    assert parse_time_range("forever") == DEFAULT_TIME_RANGE
    assert parse_time_range(None) == DEFAULT_TIME_RANGE


def test_each_failure_has_its_own_short_message():
    errors = [
        spotify_client.RateLimited(),
        spotify_client.BadResponse(),
        spotify_client.SpotifyUnavailable(),
    ]
    messages = {failure_message(error) for error in errors}
    assert len(messages) == 3
    assert all(len(message) < 100 for message in messages)
