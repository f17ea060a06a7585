"""Answers Spotify may give that the fake gives only when told: each costs one section a
message, never the page.

Each test has the fake answer one endpoint with exactly the status, headers and
body it needs (``answer_next``): a body that is not the gzip it claims to be, a
Retry-After of "²", a cursor of "²", a time past year 9999, JSON nested too deep
to decode.
"""

import dataclasses
import json
import logging

import pytest
import requests

import spotify_client
from spotify_stats import sections
from spotify_stats.tests.helpers import SECTION_IDS, assert_only_broken, html_of, section

TOP_TRACKS = "/v1/me/top/tracks"
RECENTLY_PLAYED = "/v1/me/player/recently-played"
FAR_FUTURE = "9999-12-31T23:59:59-01:00"  # UTC is past year 9999
NOT_GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
JSON = {"Content-Type": "application/json"}
SLOW_DOWN = {"status": 429, "headers": {**JSON, "Retry-After": "²"}}
SLOW_DOWN_BODY = '{"error": {"status": 429, "message": "slow"}}'


def edited(fake, path, change):
    """The fake's own answer to alice on ``path`` (as the client asks, 50 items),
    with ``change(body)`` applied: the body for an ``answer_next``."""
    token = fake.current_tokens("alice")["access"][-1]
    real = requests.get(
        f"{fake.base_url}{path}",
        params={"limit": 50},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    body = real.json()
    change(body)
    return json.dumps(body)


def set_cursor_before(body):
    body["cursors"]["before"] = "²"


def set_first_played_at(body):
    body["items"][0]["played_at"] = FAR_FUTURE


# --- the dashboard -----------------------------------------------------------


def test_a_body_that_is_not_the_gzip_it_claims_fails_only_that_section(alice_browser, fake_spotify):
    fake_spotify.answer_next(TOP_TRACKS, headers=NOT_GZIP, body='{"items": []}')

    response = alice_browser.get("/")

    assert_only_broken(response, "top-tracks", saying="could not read")
    assert fake_spotify.calls(TOP_TRACKS) == 1  # not retried


def test_a_retry_after_of_a_superscript_digit_fails_only_that_section(alice_browser, fake_spotify):
    fake_spotify.answer_next(TOP_TRACKS, **SLOW_DOWN, body=SLOW_DOWN_BODY)

    response = alice_browser.get("/")

    assert_only_broken(response, "top-tracks", saying="Spotify asked Euterpe to slow down")


def test_a_superscript_digit_cursor_is_ignored_and_the_plays_show(alice_browser, fake_spotify):
    body = edited(fake_spotify, RECENTLY_PLAYED, set_cursor_before)
    fake_spotify.answer_next(RECENTLY_PLAYED, headers=JSON, body=body)

    response = alice_browser.get("/")

    assert_only_broken(response, None)


def test_a_play_time_past_year_9999_skips_that_play_and_the_rest_show(alice_browser, fake_spotify):
    body = edited(fake_spotify, RECENTLY_PLAYED, set_first_played_at)
    fake_spotify.answer_next(RECENTLY_PLAYED, headers=JSON, body=body)

    response = alice_browser.get("/")

    assert_only_broken(response, None)


def test_json_nested_too_deep_to_decode_fails_only_that_section(alice_browser, fake_spotify):
    # json.loads raises RecursionError, which is no ValueError.
    fake_spotify.answer_next(TOP_TRACKS, headers=JSON, body="[" * 100_000)

    response = alice_browser.get("/")

    assert_only_broken(response, "top-tracks", saying="could not read")


def test_an_unexpected_error_in_a_section_fails_only_that_section(
    alice_browser, monkeypatch, caplog
):
    """Defence in depth: whatever escapes the client costs one section, never the page."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not Spotify")

    monkeypatch.setattr(
        sections,
        "SECTIONS",
        tuple(
            dataclasses.replace(section, fetch=broken) if section.name == "top_artists" else section
            for section in sections.SECTIONS
        ),
    )
    with caplog.at_level(logging.ERROR, logger="spotify_stats.stats"):
        response = alice_browser.get("/")

    assert_only_broken(response, "top-artists")
    assert "Section top_artists failed unexpectedly" in caplog.text


@pytest.mark.parametrize("base_url", ["spotify.invalid/v1", "http:///v1"])
def test_a_broken_api_base_url_fails_every_section_not_the_page(browser_for, settings, base_url):
    alice_browser = browser_for("alice")
    settings.SPOTIFY_API_BASE_URL = base_url

    response = alice_browser.get("/")

    assert response.status_code == 200
    html = html_of(response)
    for section_id in SECTION_IDS:
        assert "could not read" in section(html, section_id), section_id


# --- the client --------------------------------------------------------------


def test_a_body_that_is_not_the_gzip_it_claims_is_a_bad_response(alice_token, fake_spotify, caplog):
    fake_spotify.answer_next(TOP_TRACKS, headers=NOT_GZIP, body='{"items": []}')

    with (
        caplog.at_level(logging.WARNING, logger="spotify_stats.client"),
        pytest.raises(spotify_client.BadResponse),
    ):
        spotify_client.get_top_tracks(alice_token)

    assert fake_spotify.calls(TOP_TRACKS) == 1
    assert "ContentDecodingError" in caplog.text
    assert alice_token not in caplog.text


@pytest.mark.parametrize(
    ("base_url", "error"),
    [("spotify.invalid/v1", "MissingSchema"), ("http:///v1", "InvalidURL")],
)
def test_a_broken_api_base_url_is_a_bad_response(settings, caplog, base_url, error):
    settings.SPOTIFY_API_BASE_URL = base_url

    with (
        caplog.at_level(logging.WARNING, logger="spotify_stats.client"),
        pytest.raises(spotify_client.BadResponse),
    ):
        spotify_client.get_profile("a-secret-token")

    assert error in caplog.text
    assert "a-secret-token" not in caplog.text


def test_a_retry_after_of_a_superscript_digit_is_rate_limited_without_a_wait(
    alice_token, fake_spotify
):
    fake_spotify.answer_next(TOP_TRACKS, **SLOW_DOWN, body=SLOW_DOWN_BODY)

    with pytest.raises(spotify_client.RateLimited) as raised:
        spotify_client.get_top_tracks(alice_token)

    assert raised.value.retry_after is None


def test_a_play_time_past_year_9999_is_skipped(alice_token, fake_spotify):
    real = spotify_client.get_recently_played(alice_token)
    body = edited(fake_spotify, RECENTLY_PLAYED, set_first_played_at)
    fake_spotify.answer_next(RECENTLY_PLAYED, headers=JSON, body=body)

    recent = spotify_client.get_recently_played(alice_token)

    assert len(recent.items) == len(real.items) - 1


def test_hostile_links_and_images_from_spotify_never_reach_the_page(alice_browser, fake_spotify):
    def hostile(body):
        for index, item in enumerate(body["items"]):
            item["external_urls"]["spotify"] = (
                "javascript:alert(document.cookie)" if index % 2 else "data:text/html,hi"
            )
            item["album"]["images"] = [
                {"url": "https://tracker.example/pixel.gif", "width": 64, "height": 64}
            ]
            for artist in item["artists"]:
                artist["external_urls"] = {"spotify": "https://open.spotify.com.evil.example/"}

    body = edited(fake_spotify, TOP_TRACKS, hostile)
    fake_spotify.answer_next(TOP_TRACKS, headers=JSON, body=body)

    response = alice_browser.get("/")

    html = assert_only_broken(response, None)
    tracks = section(html, "top-tracks")
    assert "javascript:" not in tracks
    assert "data:" not in tracks
    assert "tracker.example" not in tracks
    assert "evil.example" not in tracks
    assert 'class="item__art item__art--fallback"' in tracks
