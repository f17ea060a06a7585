"""euterpe_site.env: each helper's default, its accepted values and its one-line refusal."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from euterpe_site.env import env_bool, env_float, env_int, env_list, env_rate, env_url


def _refusal(helper, *args, **kwargs):
    with pytest.raises(ImproperlyConfigured) as refused:
        helper(*args, **kwargs)
    return str(refused.value)


@pytest.mark.parametrize("value", ["", "  "])
def test_an_unset_or_blank_variable_is_the_default(monkeypatch, value):
    monkeypatch.setenv("EUTERPE_TEST_VALUE", value)

    assert env_bool("EUTERPE_TEST_VALUE", True) is True
    assert env_int("EUTERPE_TEST_VALUE", 7) == 7
    assert env_float("EUTERPE_TEST_VALUE", 0.5) == 0.5
    assert env_rate("EUTERPE_TEST_VALUE", "20/m") == "20/m"
    assert env_list("EUTERPE_TEST_VALUE", ["a"]) == ["a"]
    assert env_url("EUTERPE_TEST_VALUE", "https://example.com/") == "https://example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(word, True) for word in ("1", "true", " Yes ", "on")],
        *[(word, False) for word in ("0", "FALSE", "no", "off")],
    ],
)
def test_a_boolean_is_one_of_the_usual_words(monkeypatch, value, expected):
    monkeypatch.setenv("DEBUG", value)

    assert env_bool("DEBUG") is expected


def test_another_word_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("DEBUG", "Maybe")

    assert _refusal(env_bool, "DEBUG") == "DEBUG must be a boolean (true/false), got 'maybe'"


@pytest.mark.parametrize("value", ["many", "0", "-3", "2.5"])
def test_an_integer_must_be_whole_and_at_least_its_minimum(monkeypatch, value):
    monkeypatch.setenv("WEB_THREADS", value)

    assert _refusal(env_int, "WEB_THREADS", 4, minimum=1) == (
        f"WEB_THREADS must be an integer >= 1, got {value!r}"
    )


def test_an_integer_is_read(monkeypatch):
    monkeypatch.setenv("WEB_THREADS", " 12 ")

    assert env_int("WEB_THREADS", 4, minimum=1) == 12


@pytest.mark.parametrize("value", ["20/m", "1/s", "100/5m", "3/d"])
def test_a_rate_is_a_count_per_period(monkeypatch, value):
    monkeypatch.setenv("RATELIMIT_LOGIN", value)

    assert env_rate("RATELIMIT_LOGIN", "20/m") == value


@pytest.mark.parametrize("value", ["lots", "0/m", "20/week", "20"])
def test_anything_else_is_not_a_rate(monkeypatch, value):
    monkeypatch.setenv("RATELIMIT_LOGIN", value)

    assert _refusal(env_rate, "RATELIMIT_LOGIN", "20/m") == (
        f"RATELIMIT_LOGIN must be a rate like 20/m (count/[n]s|m|h|d), got {value!r}"
    )


def test_a_number_within_its_bounds_is_read(monkeypatch):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.25")

    assert env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0) == 0.25


@pytest.mark.parametrize("value", ["all", "1.5", "-0.1"])
def test_a_number_outside_its_bounds_is_refused(monkeypatch, value):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", value)

    assert _refusal(env_float, "SENTRY_TRACES_SAMPLE_RATE", 0.0) == (
        f"SENTRY_TRACES_SAMPLE_RATE must be a number from 0.0 to 1.0, got {value!r}"
    )


def test_a_list_is_comma_separated_without_blanks(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example, ,b.example ,")

    assert env_list("ALLOWED_HOSTS") == ["a.example", "b.example"]


def test_a_url_loses_its_trailing_slash(monkeypatch):
    monkeypatch.setenv("SPOTIFY_API_BASE_URL", "http://127.0.0.1:8001/v1/")

    assert env_url("SPOTIFY_API_BASE_URL", "https://api.spotify.com/v1") == (
        "http://127.0.0.1:8001/v1"
    )


@pytest.mark.parametrize("value", ["api.spotify.com", "ftp://x", "https://"])
def test_a_url_must_be_http_or_https_with_a_host(monkeypatch, value):
    monkeypatch.setenv("SPOTIFY_API_BASE_URL", value)

    assert _refusal(env_url, "SPOTIFY_API_BASE_URL", "https://api.spotify.com/v1") == (
        "SPOTIFY_API_BASE_URL must be an http(s) URL such as https://api.spotify.com/v1, "
        f"got {value!r}"
    )
