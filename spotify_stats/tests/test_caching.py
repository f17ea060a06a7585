"""Caching the rendered sections: warm pages cost no Spotify call and few queries."""

import base64
import pickle
import re
import time

from django.core.cache import cache
from django.db import connection
from django.test import Client

import spotify_client
from spotify_stats.cache import BACKOFF_KEY, forget_listener, listener_keys, refresh_key
from spotify_stats.dashboard import load_dashboard
from spotify_stats.tests.helpers import SECTION_IDS, failed, html_of, section, shows
from tests.support import HOSTILE_PICKLE, RAN


def test_a_warm_page_makes_no_spotify_call(alice_browser, fake_spotify):
    first = html_of(alice_browser.get("/"))
    assert fake_spotify.calls(listener="alice") == 5
    fake_spotify.reset_counters()

    second = html_of(alice_browser.get("/"))

    assert fake_spotify.calls(listener="alice") == 0
    for section_id in SECTION_IDS:
        # "played 12 minutes ago" is worked out on every view: it may tick on.
        assert without_ages(section(second, section_id)) == without_ages(section(first, section_id))


def without_ages(html):
    return re.sub(r">played [^<]+<", "><", html)


def test_a_warm_page_costs_two_queries_and_never_reads_the_tokens(
    alice_browser, django_assert_num_queries, fake_spotify
):
    alice_browser.get("/")
    fake_spotify.reset_counters()

    with django_assert_num_queries(2) as captured:
        response = alice_browser.get("/", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    session, sections = (query["sql"] for query in captured.captured_queries)
    # The session with its user in one query (accounts.sessions), then the sections.
    assert "accounts_listenersession" in session
    assert "JOIN" in session and "auth_user" in session
    assert "euterpe_cache" in sections
    assert not any("spotifytoken" in query["sql"] for query in captured.captured_queries)
    assert fake_spotify.calls() == 0


def test_each_time_range_is_cached_on_its_own(alice_browser, fake_spotify):
    alice_browser.get("/?time_range=short_term")
    fake_spotify.reset_counters()

    alice_browser.get("/?time_range=long_term")

    assert fake_spotify.calls(path="/v1/me/top/tracks") == 1
    assert fake_spotify.calls(path="/v1/me/top/artists") == 1
    assert fake_spotify.calls(listener="alice") == 2


def test_listeners_never_see_each_others_cached_data(browser_for, fake_spotify):
    alice_browser = browser_for("alice")
    bob = browser_for("bob")
    alice_html = html_of(alice_browser.get("/?time_range=short_term"))
    fake_spotify.reset_counters()

    bob_html = html_of(bob.get("/?time_range=short_term"))

    assert fake_spotify.calls(listener="bob") == 5
    assert fake_spotify.calls(listener="alice") == 0
    assert "Brass Harbour" in bob_html
    assert "Velvet Orchard" not in bob_html
    assert "Alice Liddell" not in bob_html
    assert "Velvet Orchard" in alice_html


def test_no_caching_when_the_cache_time_is_zero(alice_browser, fake_spotify, settings):
    settings.SPOTIFY_CACHE_SECONDS = 0

    alice_browser.get("/")
    alice_browser.get("/")

    assert fake_spotify.calls(listener="alice") == 10


def test_the_page_says_how_old_its_data_is(alice_browser, django_user_model):
    alice_browser.get("/")
    user = django_user_model.objects.get(username="alice")
    entries = cache.get_many(listener_keys(user.pk))
    for entry in entries.values():
        entry["fetched_at"] -= 3 * 60 + 5
    entries[next(iter(entries))]["fetched_at"] -= 60
    cache.set_many(entries)

    html = html_of(alice_browser.get("/"))

    assert re.search(r"as of 4 minutes ago</time>", html)


def test_recent_plays_age_while_they_are_cached(alice_browser, fake_spotify, django_user_model):
    alice_browser.get("/")
    user = django_user_model.objects.get(username="alice")
    now = time.time()

    fresh = load_dashboard(user, time_range="medium_term", now=now)
    later = load_dashboard(user, time_range="medium_term", now=now + 2 * 86400)

    assert fake_spotify.calls(listener="alice") == 5
    played = [
        re.findall(r">played ([^<]+)<", page.sections["recently_played"].html)
        for page in (fresh, later)
    ]
    assert len(played[0]) == len(played[1]) > 0
    assert played[0] != played[1]
    assert all(re.fullmatch(r"\d+ days ago", text) for text in played[1])


def test_refresh_now_drops_the_cache_and_the_next_view_fetches(alice_browser, fake_spotify):
    alice_browser.get("/?time_range=long_term")
    fake_spotify.reset_counters()

    response = alice_browser.post("/refresh", {"time_range": "long_term"})

    assert response.status_code == 302
    assert response["Location"] == "/?time_range=long_term"
    alice_browser.get(response["Location"])
    assert fake_spotify.calls(listener="alice") == 5


def test_refresh_now_works_once_a_minute(alice_browser, fake_spotify):
    alice_browser.get("/")
    alice_browser.post("/refresh", {"time_range": "medium_term"})
    alice_browser.get("/")
    fake_spotify.reset_counters()

    response = alice_browser.post("/refresh", {"time_range": "medium_term"}, follow=True)

    assert response.status_code == 200
    assert "at most once a minute" in html_of(response)
    assert fake_spotify.calls(listener="alice") == 0


def test_refresh_now_keeps_the_data_while_spotify_asks_to_wait(alice_browser, fake_spotify):
    before = html_of(alice_browser.get("/"))
    cache.set(BACKOFF_KEY, time.time() + 120, 120)
    fake_spotify.reset_counters()

    response = alice_browser.post("/refresh", {"time_range": "medium_term"}, follow=True)

    html = html_of(response)
    assert "Spotify asked Euterpe to slow down for" in html
    assert section(html, "top-tracks") == section(before, "top-tracks")
    assert fake_spotify.calls() == 0


def test_refresh_now_limits_each_listener_on_their_own(browser_for, fake_spotify):
    alice_browser, bob = browser_for("alice"), browser_for("bob")
    alice_browser.post("/refresh", {"time_range": "medium_term"})

    response = bob.post("/refresh", {"time_range": "medium_term"}, follow=True)

    assert "at most once a minute" not in html_of(response)


def test_refresh_now_needs_a_csrf_token(make_listener):
    browser = Client(enforce_csrf_checks=True, headers={"X-Forwarded-Proto": "https"})
    browser.force_login(make_listener("alice"))

    assert browser.post("/refresh", {"time_range": "medium_term"}).status_code == 403


def test_refresh_now_is_a_post(alice_browser):
    assert alice_browser.get("/refresh").status_code == 405


def test_forgetting_a_listener_deletes_every_cached_section(alice_browser, django_user_model):
    for time_range in spotify_client.TIME_RANGES:
        alice_browser.get(f"/?time_range={time_range}")
    user_id = django_user_model.objects.get(username="alice").pk
    assert len(cache.get_many(listener_keys(user_id))) == 9

    forget_listener(user_id)

    assert cache.get_many(listener_keys(user_id)) == {}


def test_disconnecting_deletes_the_listeners_cached_sections(
    alice_browser, django_user_model, django_capture_on_commit_callbacks
):
    alice_browser.get("/")
    user_id = django_user_model.objects.get(username="alice").pk
    assert len(cache.get_many(listener_keys(user_id))) == 5

    assert alice_browser.post("/refresh").status_code == 302
    assert cache.get(refresh_key(user_id)) is not None

    # The cache goes when the deletion commits (spotify_stats.receivers).
    with django_capture_on_commit_callbacks(execute=True):
        alice_browser.post("/disconnect")

    assert cache.get_many(listener_keys(user_id)) == {}
    assert cache.get(refresh_key(user_id)) is None


def test_a_failed_section_on_a_warm_page_is_fetched_alone(alice_browser, fake_spotify):
    fake_spotify.malformed_next("/v1/me/top/artists", 1)
    assert failed(html_of(alice_browser.get("/")), "top-artists")
    fake_spotify.reset_counters()

    html = html_of(alice_browser.get("/"))

    assert fake_spotify.calls(listener="alice") == 1
    assert shows(section(html, "top-artists"), "Velvet Orchard")


def test_forged_cached_sections_are_fetched_anew_and_never_shown(
    alice_browser, fake_spotify, django_user_model
):
    """Whoever else can write the cache table (the neighbour's role, on Essential
    plans) can neither run code through it nor put HTML on a listener's page."""
    alice_browser.get("/")
    user = django_user_model.objects.get(username="alice")
    keys = listener_keys(user.pk)
    forged = {key: {"html_z": b"not zlib", "fetched_at": 1.0} for key in keys}
    RAN.clear()
    with connection.cursor() as cursor:
        for number, key in enumerate(keys):
            value = (
                base64.b64encode(HOSTILE_PICKLE).decode()
                if number % 2
                else base64.b64encode(pickle.dumps(forged[key])).decode()
            )
            cursor.execute(
                "UPDATE euterpe_cache SET value = %s WHERE cache_key = %s",
                [value, cache.make_key(key)],
            )
    fake_spotify.reset_counters()

    response = alice_browser.get("/")

    assert response.status_code == 200
    assert RAN == []
    assert fake_spotify.calls(listener="alice") == 5
    html = html_of(response)
    for section_id in SECTION_IDS:
        assert not failed(html, section_id), section_id


def test_an_integer_under_a_section_key_on_redis_is_fetched_anew(
    alice_browser, fake_spotify, django_user_model, settings, redis_url
):
    """Redis keeps plain integers unsigned (INCR needs them); whoever else can write
    there and puts one under a section's key costs that section a fetch, not a 500."""
    settings.CACHES = {
        "default": {
            "BACKEND": "euterpe_site.cache_backend.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "euterpe",
        }
    }
    cache.clear()
    try:
        alice_browser.get("/")
        user = django_user_model.objects.get(username="alice")
        for key in listener_keys(user.pk):
            cache.set(key, 7)
        fake_spotify.reset_counters()

        response = alice_browser.get("/")

        assert response.status_code == 200
        assert fake_spotify.calls(listener="alice") == 5
        html = html_of(response)
        for section_id in SECTION_IDS:
            assert not failed(html, section_id), section_id
    finally:
        cache.clear()
