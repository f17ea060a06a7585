"""pytest fixtures for the fake Spotify (loaded by the root conftest.py).

- ``fake_spotify_server`` (session): one fake on a free port for the whole run.
- ``fake_spotify_clean``: that fake, reset before and after the test (faults,
  latency, rotation, allow-list, counters); needs no Django.
- ``fake_spotify``: the same, with Django's ``SPOTIFY_*`` settings pointed at
  it (pytest-django's ``settings`` fixture; no database).
- ``spotify_login``: ``spotify_login("alice")`` logs a listener in over real
  HTTP (``/authorize`` then ``/api/token``) and returns the token answer dict.
- ``alice_token``: a fresh access token of the demo listener alice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devtools.fakespotify.accounts import DEFAULT_SCOPE
from devtools.fakespotify.server import FakeSpotify

TEST_REDIRECT_URI = "http://127.0.0.1:8000/callback"


@pytest.fixture(scope="session")
def fake_spotify_server() -> Iterator[FakeSpotify]:
    """One fake Spotify, serving on a free port for the whole test session."""
    fake = FakeSpotify().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_spotify_clean(fake_spotify_server: FakeSpotify) -> Iterator[FakeSpotify]:
    """The session's fake with no faults, latency or counts left from other tests."""
    fake_spotify_server.reset()
    try:
        yield fake_spotify_server
    finally:
        fake_spotify_server.reset()


@pytest.fixture
def fake_spotify(fake_spotify_clean: FakeSpotify, settings) -> FakeSpotify:
    """The clean fake, with Euterpe's Spotify settings pointing at it."""
    settings.SPOTIFY_AUTH_BASE_URL = fake_spotify_clean.auth_base_url
    settings.SPOTIFY_API_BASE_URL = fake_spotify_clean.api_base_url
    settings.SPOTIFY_CLIENT_ID = fake_spotify_clean.client_id
    settings.SPOTIFY_CLIENT_SECRET = fake_spotify_clean.client_secret
    return fake_spotify_clean


def login(
    fake: FakeSpotify,
    listener: str,
    *,
    redirect_uri: str = TEST_REDIRECT_URI,
    scope: str = DEFAULT_SCOPE,
) -> dict:
    """Log ``listener`` in through the fake's HTTP endpoints; the token answer."""
    with requests.Session() as http:
        approval = http.get(
            f"{fake.auth_base_url}/authorize",
            params={
                "client_id": fake.client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": "test-state",
                "listener": listener,
            },
            allow_redirects=False,
            timeout=10,
        )
        assert approval.status_code == 302, approval.text
        code = parse_qs(urlsplit(approval.headers["Location"]).query)["code"][0]
        answer = http.post(
            f"{fake.auth_base_url}/api/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            auth=(fake.client_id, fake.client_secret),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def spotify_login(fake_spotify_clean: FakeSpotify) -> Callable[[str], dict]:
    """``spotify_login("bob")`` -> ``{"access_token", "refresh_token", ...}``."""

    def _login(listener: str, **kwargs) -> dict:
        return login(fake_spotify_clean, listener, **kwargs)

    return _login


@pytest.fixture
def alice_token(fake_spotify, spotify_login) -> str:
    """A fresh access token of the demo listener ``alice`` (Euterpe's settings
    pointed at the fake, as with ``fake_spotify``)."""
    return spotify_login("alice")["access_token"]
