"""Spotify misbehaving: each failure costs one section a message, never the page."""

import logging
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.models import SpotifyToken
from spotify_stats import fetching
from spotify_stats.cache import BACKOFF_KEY, STALLED_KEY, refresh_key
from spotify_stats.tests.helpers import (
    SECTION_IDS,
    assert_only_broken,
    failed,
    html_of,
    section,
    shows,
    top_track_names,
)

PATHS = {
    "top-tracks": "/v1/me/top/tracks",
    "top-artists": "/v1/me/top/artists",
    "playlists": "/v1/me/playlists",
    "recently-played": "/v1/me/player/recently-played",
}


def alice_id(browser):
    return int(browser.session["_auth_user_id"])


@pytest.mark.parametrize(
    "section_id", ["top-tracks", "top-artists", "playlists", "recently-played"]
)
def test_a_429_without_retry_after_gives_up_only_that_section(
    alice_browser, fake_spotify, section_id
):
    fake_spotify.fail_next(PATHS[section_id], 1, 429)

    response = alice_browser.get("/")

    assert_only_broken(response, section_id, saying="Spotify asked Euterpe to slow down")


def test_a_429_whose_retry_after_outlasts_the_deadline_gives_up_that_section(
    alice_browser, fake_spotify
):
    fake_spotify.fail_next(PATHS["top-artists"], 1, 429, retry_after=600)

    response = alice_browser.get("/")

    assert_only_broken(response, "top-artists")
    assert fake_spotify.calls(path=PATHS["top-artists"]) == 1


def test_a_429_with_a_retry_after_that_fits_is_waited_out(alice_browser, fake_spotify):
    fake_spotify.fail_next(PATHS["top-tracks"], 1, 429, retry_after=1)

    response = alice_browser.get("/")

    html = assert_only_broken(response, None)
    assert shows(section(html, "top-tracks"), top_track_names(fake_spotify, "alice")[0])
    assert fake_spotify.calls(path=PATHS["top-tracks"]) == 2


def test_a_500_is_retried_once_and_the_section_shows(alice_browser, fake_spotify):
    fake_spotify.fail_next(PATHS["playlists"], 1, 500)

    response = alice_browser.get("/")

    assert_only_broken(response, None)
    assert fake_spotify.calls(path=PATHS["playlists"]) == 2


def test_a_503_twice_gives_up_that_section(alice_browser, fake_spotify):
    fake_spotify.fail_next(PATHS["recently-played"], 2, 503)

    response = alice_browser.get("/")

    assert_only_broken(response, "recently-played", saying="Spotify is not answering right now")
    assert fake_spotify.calls(path=PATHS["recently-played"]) == 2


def test_malformed_json_gives_up_that_section(alice_browser, fake_spotify):
    fake_spotify.malformed_next(PATHS["top-tracks"], 1)

    response = alice_browser.get("/")

    assert_only_broken(response, "top-tracks", saying="could not read")


def test_a_section_hanging_past_the_deadline_is_given_up_and_the_page_answers(
    alice_browser, fake_spotify, settings
):
    settings.SPOTIFY_PAGE_DEADLINE_SECONDS = 1.5
    fake_spotify.hang_next(PATHS["top-artists"], 2, seconds=30)

    response = alice_browser.get("/")

    html = assert_only_broken(response, "top-artists")
    assert shows(section(html, "top-tracks"), top_track_names(fake_spotify, "alice")[0])


def test_a_failed_section_is_not_cached(alice_browser, fake_spotify):
    fake_spotify.fail_next(PATHS["playlists"], 2, 503)
    assert failed(html_of(alice_browser.get("/")), "playlists")
    fake_spotify.reset_counters()

    response = alice_browser.get("/")

    assert_only_broken(response, None)
    assert fake_spotify.calls(path=PATHS["playlists"]) == 1
    assert fake_spotify.calls(listener="alice") == 1


def test_a_failed_profile_falls_back_to_the_stored_name(alice_browser, fake_spotify):
    fake_spotify.fail_next("/v1/me", 2, 503)

    response = alice_browser.get("/")

    html = assert_only_broken(response, None)
    assert '<h1 class="identity__name">Alice Liddell</h1>' in html
    assert "avatar--initials" in html


def test_an_expired_access_token_is_refreshed_once_and_the_page_shows(alice_browser, fake_spotify):
    fake_spotify.expire_access_tokens("alice")

    response = alice_browser.get("/")

    assert_only_broken(response, None)
    assert fake_spotify.calls(path="/api/token") == 1


def test_a_401_after_the_refresh_gives_up_that_section_without_refreshing_again(
    alice_browser, fake_spotify
):
    fake_spotify.fail_next(PATHS["top-tracks"], 2, 401)

    response = alice_browser.get("/")

    assert_only_broken(response, "top-tracks", saying="Logging in again will fix it")
    assert fake_spotify.calls(path="/api/token") == 1
    # Only the refused section was fetched again.
    assert fake_spotify.calls(path=PATHS["top-artists"]) == 1


def test_the_sections_are_fetched_at_the_same_time(alice_browser, fake_spotify):
    fake_spotify.set_latency(0.3)

    alice_browser.get("/")

    assert fake_spotify.max_concurrency(listener="alice") >= 4


def test_further_playlist_pages_are_fetched_at_the_same_time(browser_for, fake_spotify):
    collector = browser_for("collector")
    fake_spotify.reset_counters()
    fake_spotify.set_latency(0.3)

    html = html_of(collector.get("/"))

    assert "120 playlists" in section(html, "playlists")
    assert fake_spotify.max_concurrency(path=PATHS["playlists"], listener="collector") == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_failing_token_endpoint_before_the_page_costs_messages_not_a_500(
    alice_browser, fake_spotify, status
):
    # The stored token is past its expiry: the proactive refresh runs first.
    SpotifyToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    fake_spotify.fail_next("/api/token", 2, status, retry_after=600 if status == 429 else None)

    response = alice_browser.get("/")

    assert response.status_code == 200
    html = html_of(response)
    for section_id in SECTION_IDS:
        if section_id != "profile":
            assert failed(html, section_id), section_id


def test_a_malformed_token_answer_during_the_reactive_refresh_fails_only_the_refused_sections(
    alice_browser, fake_spotify
):
    fake_spotify.fail_next(PATHS["top-tracks"], 1, 401)
    fake_spotify.malformed_next("/api/token", 1)

    response = alice_browser.get("/")

    assert_only_broken(response, "top-tracks")


@pytest.fixture
def deadlines(monkeypatch):
    """The deadline each cold page gave Spotify, in seconds from the call (a spy that
    calls through to the real fetch)."""
    seen = []
    real = fetching.fetch_for_listener

    def spy(user, names, *, deadline, **kwargs):
        seen.append(deadline - time.monotonic())
        return real(user, names, deadline=deadline, **kwargs)

    monkeypatch.setattr(fetching, "fetch_for_listener", spy)
    return seen


def test_a_section_unanswered_after_the_short_deadline_marks_spotify_as_stalled(
    alice_browser, browser_for, fake_spotify, settings, caplog
):
    settings.SPOTIFY_STALLED_DEADLINE_SECONDS = 0.5
    settings.SPOTIFY_PAGE_DEADLINE_SECONDS = 1.5
    bob = browser_for("bob")
    fake_spotify.hang_next(PATHS["playlists"], 4, seconds=30)

    with caplog.at_level(logging.WARNING, logger="spotify_stats.stats"):
        assert alice_browser.get("/").status_code == 200
        assert bob.get("/").status_code == 200

    assert cache.get(STALLED_KEY) is True
    assert any("Spotify is not answering" in record.getMessage() for record in caplog.records)


def test_one_listener_refreshing_in_a_loop_cannot_mark_spotify_as_stalled(
    alice_browser, fake_spotify, settings
):
    """Spotify stalling for one listener is no evidence that it stalls for everyone:
    the mark shortens every listener's cold deadline, so it needs two listeners."""
    settings.SPOTIFY_STALLED_DEADLINE_SECONDS = 0.5
    settings.SPOTIFY_PAGE_DEADLINE_SECONDS = 1.5
    fake_spotify.hang_next(PATHS["playlists"], 8, seconds=30)

    for time_range in ("short_term", "medium_term", "long_term"):
        assert failed(html_of(alice_browser.get(f"/?time_range={time_range}")), "playlists")
        assert alice_browser.post("/refresh", {"time_range": time_range}).status_code == 302
        cache.delete(refresh_key(alice_id(alice_browser)))  # pressing again at once counts too

    assert cache.get(STALLED_KEY) is None


def test_while_spotify_is_stalled_cold_pages_wait_only_the_short_deadline(
    alice_browser, fake_spotify, settings, deadlines
):
    settings.SPOTIFY_PAGE_DEADLINE_SECONDS = 12
    settings.SPOTIFY_STALLED_DEADLINE_SECONDS = 1
    alice_browser.get("/?time_range=short_term")
    cache.set(STALLED_KEY, True, 30)
    fake_spotify.hang_next(PATHS["top-tracks"], 2, seconds=30)

    response = alice_browser.get("/?time_range=long_term")

    assert_only_broken(response, "top-tracks")
    assert deadlines[0] > 11
    assert deadlines[1] <= 1


def test_an_ordinary_failure_does_not_mark_spotify_as_stalled(alice_browser, fake_spotify):
    fake_spotify.fail_next(PATHS["playlists"], 2, 503)

    assert failed(html_of(alice_browser.get("/")), "playlists")

    assert cache.get(STALLED_KEY) is None


def test_a_stalled_page_that_runs_out_of_time_keeps_spotify_marked_as_stalled(
    alice_browser, browser_for, fake_spotify, settings
):
    settings.SPOTIFY_STALLED_DEADLINE_SECONDS = 0.5
    settings.SPOTIFY_PAGE_DEADLINE_SECONDS = 1.5
    settings.SPOTIFY_STALL_SECONDS = 30
    bob = browser_for("bob")
    cache.set(STALLED_KEY, True, 1)
    fake_spotify.hang_next(PATHS["top-artists"], 4, seconds=30)

    assert failed(html_of(alice_browser.get("/")), "top-artists")
    assert failed(html_of(bob.get("/")), "top-artists")

    # Set again for the full SPOTIFY_STALL_SECONDS, not left to lapse after 1 s.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT expires FROM euterpe_cache WHERE cache_key = %s", [cache.make_key(STALLED_KEY)]
        )
        (expires,) = cursor.fetchone()
    assert expires > timezone.now() + timedelta(seconds=20)


def test_one_listener_alone_does_not_keep_spotify_marked_as_stalled(
    alice_browser, fake_spotify, settings
):
    settings.SPOTIFY_STALLED_DEADLINE_SECONDS = 0.5
    settings.SPOTIFY_STALL_SECONDS = 30
    cache.set(STALLED_KEY, True, 1)
    fake_spotify.hang_next(PATHS["top-artists"], 4, seconds=30)

    assert failed(html_of(alice_browser.get("/?time_range=short_term")), "top-artists")
    assert failed(html_of(alice_browser.get("/?time_range=long_term")), "top-artists")

    time.sleep(1.1)  # the mark set before lapses: alice alone did not renew it
    assert cache.get(STALLED_KEY) is None


def test_after_a_429_no_page_calls_spotify_until_its_retry_after_is_over(
    alice_browser, browser_for, fake_spotify
):
    fake_spotify.fail_next(PATHS["top-artists"], 1, 429, retry_after=600)
    assert failed(html_of(alice_browser.get("/")), "top-artists")
    bob = browser_for("bob")
    fake_spotify.reset_counters()

    response = bob.get("/")

    assert response.status_code == 200
    html = html_of(response)
    for section_id in SECTION_IDS:
        assert "Spotify asked Euterpe to slow down" in section(html, section_id), section_id
    assert fake_spotify.calls() == 0


def test_while_spotify_asks_to_wait_cached_sections_are_still_shown(alice_browser, fake_spotify):
    first = html_of(alice_browser.get("/"))
    cache.set(BACKOFF_KEY, time.time() + 600, 600)
    fake_spotify.reset_counters()

    html = assert_only_broken(alice_browser.get("/"), None)

    assert section(html, "top-tracks") == section(first, "top-tracks")
    assert fake_spotify.calls() == 0


def test_a_retry_after_that_has_passed_lets_pages_call_spotify_again(alice_browser, fake_spotify):
    cache.set(BACKOFF_KEY, time.time() - 1, 600)

    response = alice_browser.get("/")

    assert_only_broken(response, None)
    assert fake_spotify.calls(path=PATHS["top-tracks"]) == 1


def test_a_429_that_was_waited_out_leaves_no_backoff(alice_browser, fake_spotify):
    fake_spotify.fail_next(PATHS["top-tracks"], 1, 429, retry_after=1)

    assert_only_broken(alice_browser.get("/"), None)

    assert cache.get(BACKOFF_KEY) is None
