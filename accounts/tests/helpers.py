"""Drive a Spotify login through Euterpe and the fake Spotify, over real HTTP."""

from urllib.parse import parse_qs, urlsplit

import requests
from django.test import Client


def browser(**kwargs):
    """A fresh test client that looks like a browser behind Heroku's HTTPS router."""
    return Client(headers={"X-Forwarded-Proto": "https"}, **kwargs)


def start_login(client, *, next_url=None):
    """POST the login form; the URL of Spotify's (the fake's) authorize page."""
    response = client.post("/login/spotify/", {"next": next_url} if next_url else {})
    assert response.status_code == 302, response
    return response["Location"]


def approve(authorize_url, listener, *, decline=False):
    """Have the fake answer /authorize for ``listener``; the callback path and query."""
    url = f"{authorize_url}&listener={listener}"
    if decline:
        url += "&decline=1"
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    parts = urlsplit(answer.headers["Location"])
    return f"{parts.path}?{parts.query}"


def state_of(authorize_url):
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


def log_in(client, listener, *, next_url=None):
    """A whole login of ``listener``: login form, Spotify's approval, /callback."""
    return client.get(approve(start_login(client, next_url=next_url), listener))
