"""Helpers for the fake's own tests: plain HTTP with requests, no Django."""

from collections.abc import Iterator

import pytest
import requests

from devtools.fakespotify.server import FakeSpotify


class Http:
    """A pooled requests session aimed at one fake, with short timeouts."""

    def __init__(self, fake: FakeSpotify):
        self.fake = fake
        self.session = requests.Session()

    def api(self, path: str, token: str | None = None, **params) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.session.get(
            f"{self.fake.api_base_url}{path}", headers=headers, params=params, timeout=10
        )

    def authorize(self, method: str = "GET", **params) -> requests.Response:
        defaults = {
            "client_id": self.fake.client_id,
            "response_type": "code",
            "redirect_uri": "http://127.0.0.1:8000/callback",
            "state": "s1",
            "scope": "user-top-read",
        }
        fields = {key: value for key, value in (defaults | params).items() if value is not None}
        url = f"{self.fake.auth_base_url}/authorize"
        if method == "POST":
            return self.session.post(url, data=fields, allow_redirects=False, timeout=10)
        return self.session.get(url, params=fields, allow_redirects=False, timeout=10)

    def token(self, auth=None, **form) -> requests.Response:
        if auth is None:
            auth = (self.fake.client_id, self.fake.client_secret)
        return self.session.post(
            f"{self.fake.auth_base_url}/api/token", data=form, auth=auth or None, timeout=10
        )

    def control(self, name: str, method: str = "POST", **payload) -> requests.Response:
        url = f"{self.fake.base_url}/_control/{name}"
        if method == "GET":
            return self.session.get(url, params=payload, timeout=10)
        return self.session.post(url, json=payload, timeout=10)


@pytest.fixture
def http(fake_spotify_clean: FakeSpotify) -> Iterator[Http]:
    client = Http(fake_spotify_clean)
    try:
        yield client
    finally:
        client.session.close()
