"""The sync on the history page, the privacy page and the admin."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from accounts.models import SpotifyToken
from accounts.spotify_backoff import BACKOFF_KEY
from listening_history import sync
from listening_history.models import SyncState
from listening_history.tests.sync_support import make_due, synced, synced_listener

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sync_on(settings):
    settings.HISTORY_SYNC_ENABLED = True
    cache.delete(BACKOFF_KEY)


def _browser(user, **kwargs):
    client = Client(headers={"X-Forwarded-Proto": "https"}, **kwargs)
    client.force_login(user)
    return client


def _text(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_a_listener_opts_in_on_the_history_page_and_sees_the_last_sync(fake_spotify):
    alice = synced_listener(fake_spotify, "alice", opt_in=False)
    browser = _browser(alice)

    page = _text(browser.get("/history"))
    assert "Keep adding what I play" in page
    assert "deleted after 365 days" in page

    response = browser.post("/history/sync", {"keep": "yes"})
    assert response.status_code == 302
    assert SyncState.objects.get(user=alice).opted_in

    sync.run_round()
    page = _text(browser.get("/history"))

    assert "Stop adding what I play" in page
    assert "It added 50 entries" in page
    assert "estimated" in page
    # The summaries see the synced plays (the history's stamp changed).
    assert re.search(r"Plays \d+", page)
    assert "Plays 0" not in page


def test_opting_out_stops_the_sync_and_keeps_what_was_added(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    sync.run_round()
    browser = _browser(alice)

    browser.post("/history/sync", {"keep": "no"})
    make_due()

    assert not SyncState.objects.get(user=alice).opted_in
    assert sync.run_round().calls == 0
    assert len(synced(alice)) == 50
    assert "Keep adding what I play" in _text(browser.get("/history"))


def test_a_paused_sync_says_why_and_how_to_resume(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    SpotifyToken.objects.filter(user=alice).delete()
    sync.run_round()

    page = _text(_browser(alice).get("/history"))

    assert "paused" in page
    assert "Log in with Spotify again" in page


def test_without_the_operator_the_page_offers_no_sync(settings, fake_spotify):
    settings.HISTORY_SYNC_ENABLED = False
    alice = synced_listener(fake_spotify, "alice", opt_in=False)
    browser = _browser(alice)

    assert "Keep adding what I play" not in _text(browser.get("/history"))
    browser.post("/history/sync", {"keep": "yes"})
    assert not SyncState.objects.filter(user=alice, opted_in=True).exists()
    assert browser.post("/history/sync", {"keep": "maybe"}).status_code == 400


def test_the_privacy_page_says_what_the_sync_keeps_and_for_how_long(client, settings):
    settings.HISTORY_SYNC_RETENTION_DAYS = 200
    page = _text(client.get("/privacy"))

    assert "Keep adding what I play" in page
    assert "deleted after 200 days" in page
    assert "off until you turn it on" in page

    settings.HISTORY_SYNC_ENABLED = False
    assert "Keep adding what I play" not in _text(client.get("/privacy"))


def test_the_admin_shows_the_sync_state_without_any_token(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    SpotifyToken.objects.filter(user=alice).delete()
    sync.run_round()
    operator = get_user_model().objects.create_superuser("operator", password="x-y-z-w-v")

    page = _browser(operator).get("/admin/listening_history/syncstate/").content.decode()

    assert "alice" in page and "Last error" in page and "Log in again" in page
    for token in fake_spotify.issued_tokens():
        assert token not in page
