"""Per-client rate limits on the login start, the callback, /db_check, the admin login and
the shared recaps (``/shared/recap/<token>``, the one public page showing a listener's data).

One middleware maps URL names to the rates in ``settings.RATELIMIT_RATES`` and
counts requests in fixed windows on Django's default cache (shared by every
worker and dyno). The views themselves know nothing about it. A client over its
limit gets a 429 with ``Retry-After``: the site's page, or JSON on /db_check.

Counting is atomic on both caches Euterpe runs on, so a burst of parallel
requests cannot slip extra ones through: the database cache counts with one
upsert that returns the new count (``DatabaseCache.incr_counter``), Redis with
``add`` and its atomic ``INCR``.

The client is the address the outermost trusted proxy saw: the
``TRUSTED_PROXY_COUNT``-th ``X-Forwarded-For`` entry from the right (1: Heroku's
router appends one; 2 behind a CDN in front of Heroku). Entries further left are
whatever the client sent and so cannot choose the key. IPv6 clients are counted
per /64, the block a single home or phone usually holds.
"""

import ipaddress
import logging
import re
import time
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db import DatabaseError
from django.http import JsonResponse
from django.shortcuts import render
from redis.exceptions import RedisError

from euterpe_site.cache_backend import DatabaseCache

logger = logging.getLogger(__name__)

# A cache that cannot count must not take the login down with it: fail open.
CACHE_ERRORS = (DatabaseError, RedisError, OSError)

IPV6_PREFIX = 64
# A window's counter outlives the window by this much, so a slow request near
# its end still finds it.
EXPIRY_MARGIN_SECONDS = 60
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"([1-9][0-9]*)/([0-9]*)([smhd])")


@dataclass(frozen=True)
class Rule:
    """Which rate (a key of RATELIMIT_RATES) applies to a URL name, and for which methods."""

    rate: str
    methods: tuple[str, ...] | None = None  # None: every method
    json: bool = False


# URL name (namespaced, as in reverse()) -> rule. social:complete runs the same
# view as /callback, so they share one budget.
RULES = {
    "social:begin": Rule("login"),
    "accounts:callback": Rule("callback"),
    "social:complete": Rule("callback"),
    "db-check": Rule("db_check", json=True),
    "admin:login": Rule("admin_login", methods=("POST",)),
    # Public by design: a token guesser (or a link passed around too widely) is slowed down.
    "history:shared-recap": Rule("shared_recap"),
}


def parse_rate(rate):
    """``"20/m"`` -> (20, 60); ``"100/5m"`` -> (100, 300)."""
    count, multiple, unit = _RATE.fullmatch(rate).groups()
    return int(count), _PERIODS[unit] * int(multiple or 1)


def client_ip(request):
    """The client's address as the outermost trusted proxy saw it.

    With N = TRUSTED_PROXY_COUNT, the Nth X-Forwarded-For entry from the right
    (the leftmost when the header holds fewer than N); REMOTE_ADDR when N is 0,
    when there is no header, or when the chosen entry is not an IP address. An
    IPv4-mapped IPv6 address is its IPv4 address.
    """
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [entry.strip() for entry in forwarded.split(",")]
    if trusted and any(entries):
        chosen = entries[-trusted] if len(entries) >= trusted else entries[0]
        address = _ip_address(chosen)
        if address is not None:
            return address
    return _ip_address(request.META.get("REMOTE_ADDR", "")) or ipaddress.ip_address("0.0.0.0")  # noqa: S104 (a key, not a bind)


def _ip_address(text):
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(request):
    """What a client is counted as: its IPv4 address, or its IPv6 /64 network."""
    address = client_ip(request)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def count_request(rate_name, client, *, now=None):
    """Count one request of ``client`` against rate ``rate_name``.

    Returns ``(count, limit, seconds_left)`` for the current fixed window. Windows
    are staggered per client so that not every counter restarts at once.
    """
    limit, period = parse_rate(settings.RATELIMIT_RATES[rate_name])
    now = time.time() if now is None else now
    offset = zlib.crc32(client.encode()) % period
    window = int((now - offset) // period)
    window_end = (window + 1) * period + offset
    key = f"ratelimit:{rate_name}:{client}:{window}"
    timeout = max(1, round(window_end - now)) + EXPIRY_MARGIN_SECONDS
    count = _increment(caches[DEFAULT_CACHE_ALIAS], key, timeout)
    return count, limit, max(1, round(window_end - now))


def _increment(cache, key, timeout):
    """The key's new count: created at 1 (expiring after ``timeout``) or raised by 1, atomically."""
    if isinstance(cache, DatabaseCache):
        return cache.incr_counter(key, timeout=timeout)
    # Redis: SET NX, then INCR; both atomic. The entry cannot expire in between:
    # it was just made to outlive its window.
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired or evicted meanwhile
        cache.add(key, 1, timeout=timeout)
        return 1


class RateLimitMiddleware:
    """Answers 429 once a client exceeds the rate of a limited URL name."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        rule = RULES.get(match.view_name) if match else None
        if rule is None or not settings.RATELIMIT_ENABLE:
            return None
        if rule.methods is not None and request.method not in rule.methods:
            return None
        client = client_key(request)
        try:
            count, limit, seconds_left = count_request(rule.rate, client)
        except CACHE_ERRORS:
            logger.warning("rate limit for %s not checked: the cache failed", rule.rate)
            return None
        if count <= limit:
            return None
        logger.warning("rate limit %s exceeded by %s", rule.rate, client)
        return too_many_requests(request, retry_after=seconds_left, json=rule.json)


def too_many_requests(request, *, retry_after, json=False):
    """The 429 answer: the site's page, or JSON for API-like endpoints."""
    if json:
        response = JsonResponse(
            {"error": "too many requests", "retry_after": retry_after}, status=429
        )
    else:
        response = render(request, "429.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
