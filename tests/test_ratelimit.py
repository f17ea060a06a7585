"""Rate limits on the login start, the callback, /db_check and the admin login,
keyed by the client address Heroku's router appends to X-Forwarded-For."""

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection, connections
from django.test import Client

from euterpe_site.cache_backend import DatabaseCache
from tests.support import settings_error, settings_module

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
    with mock.patch.object(DatabaseCache, "incr_counter", side_effect=DatabaseError("gone")):
        response = _request(client, "db_check")

    assert response.status_code == 401  # the view's own answer


def test_a_malformed_rate_stops_start_up_saying_what_is_wrong():
    assert settings_error(RATELIMIT_LOGIN="lots") == (
        "RATELIMIT_LOGIN must be a rate like 20/m (count/[n]s|m|h|d), got 'lots'"
    )


# --- which client: TRUSTED_PROXY_COUNT, IPv6 -----------------------------------


def test_behind_a_cdn_the_second_entry_from_the_right_is_the_client(client, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    # The CDN's edge (the last entry, appended by Heroku's router) changes from
    # request to request; the client the CDN saw stays.
    for n in range(LIMIT):
        _request(client, "callback", forwarded_for=f"10.0.0.9, 203.0.113.1, 198.51.100.{n}")

    same_client = _request(client, "callback", forwarded_for="203.0.113.1, 198.51.100.77")
    other_client = _request(client, "callback", forwarded_for="203.0.113.2, 198.51.100.1")

    assert same_client.status_code == 429
    assert other_client.status_code != 429


def test_behind_a_cdn_entries_left_of_the_client_cannot_choose_the_key(client, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    for n in range(LIMIT):
        _request(client, "callback", forwarded_for=f"10.0.0.{n}, 203.0.113.1, 198.51.100.1")

    response = _request(client, "callback", forwarded_for="10.9.9.9, 203.0.113.1, 198.51.100.1")

    assert response.status_code == 429


def test_with_fewer_entries_than_trusted_proxies_the_leftmost_entry_is_the_key(client, settings):
    settings.TRUSTED_PROXY_COUNT = 3
    _exhaust(client, "callback", forwarded_for="203.0.113.1, 198.51.100.1")

    assert (
        _request(client, "callback", forwarded_for="203.0.113.1, 198.51.100.2").status_code == 429
    )
    assert (
        _request(client, "callback", forwarded_for="203.0.113.2, 198.51.100.1").status_code != 429
    )


def test_with_no_trusted_proxy_the_peer_address_is_the_key(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    _exhaust(client, "callback", forwarded_for="203.0.113.1", REMOTE_ADDR="192.0.2.1")

    response = _request(client, "callback", forwarded_for="203.0.113.2", REMOTE_ADDR="192.0.2.1")

    assert response.status_code == 429


def test_ipv6_clients_are_counted_per_64_network(client):
    _exhaust(client, "callback", forwarded_for="2001:db8:1:2::1")

    same_network = _request(client, "callback", forwarded_for="2001:db8:1:2:ffff:eeee:dddd:1")
    other_network = _request(client, "callback", forwarded_for="2001:db8:1:3::1")

    assert same_network.status_code == 429
    assert other_network.status_code != 429


def test_an_ipv4_mapped_address_counts_as_its_ipv4_client(client):
    _exhaust(client, "callback", forwarded_for="203.0.113.1")

    assert _request(client, "callback", forwarded_for="::ffff:203.0.113.1").status_code == 429


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_malformed_trusted_proxy_count_stops_start_up(value):
    assert settings_error(TRUSTED_PROXY_COUNT=value) == (
        f"TRUSTED_PROXY_COUNT must be an integer >= 0, got {value!r}"
    )


def test_the_trusted_proxy_count_defaults_to_one_router():
    assert settings_module()["TRUSTED_PROXY_COUNT"] == 1


# --- counting under a burst ------------------------------------------------------


def _burst(attempts, *, forwarded_for="203.0.113.50"):
    """``attempts`` admin logins, each in its own thread (and database connection),
    all released at once; their status codes."""
    start = threading.Barrier(attempts)

    def attempt(_):
        browser = Client(headers={"X-Forwarded-Proto": "https"})
        start.wait()
        try:
            return _request(browser, "admin login", forwarded_for=forwarded_for).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        return list(pool.map(attempt, range(attempts)))


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_admin_logins_gets_exactly_the_limit_through(settings):
    settings.RATELIMIT_RATES = {**RATES, "admin_login": "10/h"}

    statuses = _burst(40)

    assert statuses.count(429) == 30


@pytest.mark.django_db(transaction=True)
def test_on_redis_a_burst_of_parallel_admin_logins_gets_exactly_the_limit_through(
    settings, redis_url
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "euterpe",
        }
    }
    settings.RATELIMIT_RATES = {**RATES, "admin_login": "10/h"}

    statuses = _burst(40)

    assert statuses.count(429) == 30
    with connection.cursor() as cursor:  # counted in Redis, not in the database cache
        cursor.execute("SELECT count(*) FROM euterpe_cache WHERE cache_key LIKE '%ratelimit%'")
        assert cursor.fetchone() == (0,)
