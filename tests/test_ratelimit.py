"""Rate limits on the login start, the callback, /db_check and the admin login,
keyed by the client address Heroku's router appends to X-Forwarded-For."""

from unittest import mock

import pytest
from django.core.cache import cache
from django.db import DatabaseError

from tests.support import settings_error

# Per hour, so a fixed window almost never rolls over in the middle of a test.
LIMIT = 3
RATES = {name: f"{LIMIT}/h" for name in ("login", "callback", "db_check", "admin_login")}

ENDPOINTS = {
    "login start": ("post", "/login/spotify/"),
    "callback": ("get", "/callback"),
    "social-auth complete": ("get", "/complete/spotify/"),
    "db_check": ("get", "/db_check"),
    "admin login": ("post", "/admin/login/"),
}


@pytest.fixture(autouse=True)
def limits(settings, db):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_RATES = RATES
    cache.clear()
    yield
    cache.clear()


def _request(client, endpoint, forwarded_for=None, **extra):
    method, path = ENDPOINTS[endpoint]
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    data = {"username": "admin", "password": "wrong"} if endpoint == "admin login" else None
    return getattr(client, method)(path, data, **extra)


def _exhaust(client, endpoint, **kwargs):
    for _ in range(LIMIT):
        response = _request(client, endpoint, **kwargs)
        assert response.status_code != 429


@pytest.mark.parametrize("endpoint", ["login start", "callback", "social-auth complete"])
def test_a_login_endpoint_answers_the_friendly_429_page_past_its_limit(client, endpoint):
    _exhaust(client, endpoint)

    response = _request(client, endpoint)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "That was a lot of tries in a short time" in page
    assert 'class="site-header"' in page  # the site's look: base.html


def test_the_admin_login_is_limited_on_posts(client):
    _exhaust(client, "admin login")

    response = _request(client, "admin login")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "That was a lot of tries" in response.content.decode()
    # Showing the form is not a guess; only posting it counts.
    assert client.get("/admin/login/").status_code == 200


def test_db_check_answers_json_429_past_its_limit(client):
    _exhaust(client, "db_check")

    response = _request(client, "db_check")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"] == "too many requests"
    assert response.json()["retry_after"] == int(response["Retry-After"])


def test_the_callback_and_social_auth_complete_share_one_budget(client):
    for _ in range(LIMIT):
        _request(client, "callback")

    assert _request(client, "social-auth complete").status_code == 429


def test_limits_are_per_endpoint(client):
    _exhaust(client, "db_check")

    assert _request(client, "callback").status_code != 429


def test_clients_are_told_apart_by_the_last_forwarded_for_entry(client):
    _exhaust(client, "callback", forwarded_for="203.0.113.1")

    assert _request(client, "callback", forwarded_for="203.0.113.1").status_code == 429
    assert _request(client, "callback", forwarded_for="203.0.113.2").status_code != 429


def test_a_client_cannot_escape_by_varying_the_first_forwarded_for_entry(client):
    for n in range(LIMIT):
        _request(client, "callback", forwarded_for=f"10.0.0.{n}, 203.0.113.1")

    response = _request(client, "callback", forwarded_for="10.9.9.9, 203.0.113.1")

    assert response.status_code == 429


def test_without_the_header_the_peer_address_is_the_key(client):
    _exhaust(client, "callback", REMOTE_ADDR="192.0.2.1")

    assert _request(client, "callback", REMOTE_ADDR="192.0.2.1").status_code == 429
    assert _request(client, "callback", REMOTE_ADDR="192.0.2.2").status_code != 429


def test_a_garbled_last_entry_falls_back_to_the_peer_address(client):
    _exhaust(client, "callback", forwarded_for="unknown", REMOTE_ADDR="192.0.2.1")

    response = _request(client, "callback", forwarded_for="other", REMOTE_ADDR="192.0.2.1")

    assert response.status_code == 429


def test_with_limits_disabled_nothing_is_limited(client, settings):
    settings.RATELIMIT_ENABLE = False

    responses = [_request(client, "db_check") for _ in range(LIMIT * 3)]

    assert all(response.status_code != 429 for response in responses)


def test_unlimited_pages_are_never_counted(client):
    responses = [client.get("/health") for _ in range(LIMIT * 3)]

    assert all(response.status_code == 200 for response in responses)


def test_a_failing_cache_lets_requests_through_instead_of_a_500(client):
    with mock.patch("euterpe_site.ratelimit.get_usage", side_effect=DatabaseError("gone")):
        response = _request(client, "db_check")

    assert response.status_code == 401  # the view's own answer


def test_a_malformed_rate_stops_start_up_saying_what_is_wrong():
    assert settings_error(RATELIMIT_LOGIN="lots") == (
        "RATELIMIT_LOGIN must be a rate like 20/m (count/[n]s|m|h|d), got 'lots'"
    )
