"""Per-client rate limits on the login start, the callback, /db_check and the admin login.

One middleware maps URL names to the rates in ``settings.RATELIMIT_RATES`` and
counts requests with django-ratelimit's ``get_usage()`` on Django's default
cache (shared by every worker and dyno). The views themselves know nothing
about it. A client over its limit gets a 429 with ``Retry-After``: the
site's page, or JSON on /db_check.

The client is the address Heroku's router saw: the *last* ``X-Forwarded-For``
entry, which the router appends. Earlier entries are whatever the client sent
and so cannot choose the key. Without a router in front (``make run``), the key
is ``REMOTE_ADDR`` unless a header is sent, which is harmless on a laptop.
"""

import ipaddress
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# A cache that cannot count must not take the login down with it: fail open.
CACHE_ERRORS = (DatabaseError, RedisError, OSError)


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
}


def client_ip(request):
    """The client's address as Heroku's router reports it (RATELIMIT_IP_META_KEY).

    The last X-Forwarded-For entry, falling back to REMOTE_ADDR when there is
    no header or its last entry is not an IP address.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    if last:
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 (a key, not a bind)


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
        try:
            usage = get_usage(
                request,
                group=f"euterpe.{rule.rate}",
                key="ip",
                rate=settings.RATELIMIT_RATES[rule.rate],
                increment=True,
            )
        except CACHE_ERRORS:
            logger.warning("rate limit for %s not checked: the cache failed", rule.rate)
            return None
        if usage is None or not usage["should_limit"]:
            return None
        retry_after = max(1, usage["time_left"])
        logger.warning("rate limit %s exceeded by %s", rule.rate, client_ip(request))
        return too_many_requests(request, retry_after=retry_after, json=rule.json)


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
