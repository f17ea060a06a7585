"""A cold dashboard still waiting on Spotify when its listener disconnects in
another tab: nothing of the listener may be stored after the disconnect."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client

from spotify_stats.cache import listener_keys

# Every Spotify call of the page takes this long: the disconnect lands meanwhile.
LATENCY = 1.5


@pytest.fixture(params=["database cache", "redis"])
def cache_backend(request, settings):
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "euterpe_site.cache_backend.RedisCache",
                "LOCATION": request.getfixturevalue("redis_url"),
                "KEY_PREFIX": "euterpe",
            }
        }
    cache.clear()
    yield request.param
    cache.clear()


def _load_in_another_thread(pool, browser):
    def load():
        try:
            return browser.get("/")
        finally:
            connections.close_all()

    return pool.submit(load)


def _wait_for_spotify_calls(fake_spotify, listener):
    deadline = time.monotonic() + 10
    while fake_spotify.calls(listener=listener) == 0:
        assert time.monotonic() < deadline, "the page never called Spotify"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_page_in_flight_when_its_listener_disconnects_stores_nothing_afterwards(
    cache_backend, browser_for, fake_spotify
):
    tab = browser_for("alice")
    user_id = int(tab.session["_auth_user_id"])
    other_tab = Client(headers={"X-Forwarded-Proto": "https"})
    other_tab.cookies = tab.cookies
    fake_spotify.reset_counters()
    fake_spotify.set_latency(LATENCY)

    with ThreadPoolExecutor(max_workers=1) as pool:
        page = _load_in_another_thread(pool, tab)
        _wait_for_spotify_calls(fake_spotify, "alice")
        assert other_tab.post("/disconnect").status_code == 200
        assert page.result().status_code == 200  # the tab still gets its page

    assert not get_user_model().objects.filter(pk=user_id).exists()
    assert cache.get_many(listener_keys(user_id)) == {}
    if cache_backend == "database cache":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT cache_key FROM euterpe_cache WHERE cache_key LIKE %s",
                [f"%:{user_id}:%"],
            )
            assert cursor.fetchall() == []


@pytest.mark.django_db(transaction=True)
def test_a_page_in_flight_for_a_listener_who_stays_is_cached_as_usual(
    cache_backend, browser_for, fake_spotify
):
    tab = browser_for("alice")
    user_id = int(tab.session["_auth_user_id"])
    fake_spotify.set_latency(0.2)

    assert tab.get("/").status_code == 200

    assert len(cache.get_many(listener_keys(user_id))) == 5
