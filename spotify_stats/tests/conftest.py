"""Listeners logged in to Euterpe with real tokens from the fake Spotify.

A test using them starts and ends with an empty cache (the database cache's rows
roll back with the test's transaction, but Redis would keep them), and the fake reset.
"""

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.services import listener_for_login
from accounts.tokens import save_login_tokens
from devtools.fakespotify.pytest_plugin import login


@pytest.fixture
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_listener(fake_spotify, empty_cache):
    """``make_listener("alice")``: a Django user for the fake's demo listener, with tokens."""

    def make(listener_id):
        tokens = login(fake_spotify, listener_id)
        profile = fake_spotify.listener(listener_id)
        user, _ = listener_for_login(spotify_id=listener_id, spotify_name=profile.display_name)
        save_login_tokens(
            user,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_in=tokens["expires_in"],
            scope=tokens.get("scope", ""),
        )
        return user

    return make


@pytest.fixture
def browser_for(make_listener):
    """``browser_for("alice")``: a logged-in test client behind Heroku's HTTPS router."""

    def make(listener_id):
        browser = Client(headers={"X-Forwarded-Proto": "https"})
        browser.force_login(make_listener(listener_id))
        return browser

    return make


@pytest.fixture
def alice_browser(browser_for, fake_spotify):
    """The demo listener alice logged in, with the fake's counters at zero."""
    browser = browser_for("alice")
    fake_spotify.reset_counters()
    return browser
