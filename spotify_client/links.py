"""Only Spotify's links and images survive parsing.

What Spotify sends goes into href and src attributes: a hostile or broken answer
must not put a javascript: or data: link or a foreign tracking pixel on the page.
Links must be ``https://open.spotify.com/...``; images https on ``*.scdn.co`` or
``*.spotifycdn.com``, or on the configured fake Spotify's origin (read from the
settings at call time). Anything else is dropped while parsing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

LINK_HOST = "open.spotify.com"
# Spotify's image CDNs, as the CSP's img-src allows them (subdomains only).
IMAGE_DOMAINS = (".scdn.co", ".spotifycdn.com")
SPOTIFY_ORIGINS = frozenset({"https://accounts.spotify.com", "https://api.spotify.com"})


def spotify_link(value: Any) -> str | None:
    """``value`` if it is an ``https://open.spotify.com/...`` link, else None."""
    parts = _url_parts(value)
    if parts is None or parts.scheme != "https" or parts.netloc.lower() != LINK_HOST:
        return None
    return value if parts.path.startswith("/") else None


def spotify_image_url(value: Any, fake_origins: frozenset[str] = frozenset()) -> str | None:
    """``value`` if it is an https image on Spotify's CDNs (``*.scdn.co``,
    ``*.spotifycdn.com``) or on the configured fake Spotify's origin, else None."""
    parts = _url_parts(value)
    if parts is None:
        return None
    if f"{parts.scheme}://{parts.netloc.lower()}" in fake_origins:
        return value
    if parts.scheme != "https" or "@" in parts.netloc or parts.port is not None:
        return None
    host = parts.hostname or ""
    valid_host = host.endswith(IMAGE_DOMAINS) and all(
        label and label.isascii() and label.replace("-", "").isalnum() for label in host.split(".")
    )
    return value if valid_host else None


def _url_parts(value: Any):
    """urlsplit of a plausible absolute URL: no whitespace, control characters or
    backslashes (which browsers and urlsplit read differently), a valid port."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    if any(char.isspace() or not char.isprintable() or char == "\\" for char in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError:
        return None
    return parts


def configured_fake_origins() -> frozenset[str]:
    """Origins of the configured Spotify URLs that are not Spotify's: the fake's."""
    origins = set()
    for url in (settings.SPOTIFY_API_BASE_URL, settings.SPOTIFY_AUTH_BASE_URL):
        parts = urlsplit(url)
        origins.add(f"{parts.scheme}://{parts.netloc.lower()}")
    return frozenset(origins - SPOTIFY_ORIGINS)
