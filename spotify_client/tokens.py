"""A new access token from Spotify's accounts service (not the Web API).

Reads ``SPOTIFY_AUTH_BASE_URL``, ``SPOTIFY_CLIENT_ID`` and
``SPOTIFY_CLIENT_SECRET`` at call time.
"""

from __future__ import annotations

import time

from django.conf import settings

from spotify_client.objects import TokenGrant, parse_token_grant
from spotify_client.transport import request

# A refresh sits in front of a page view: give up on it quickly.
TOKEN_TIMEOUT = 5.0


def refresh_access_token(refresh_token: str, *, deadline: float | None = None) -> TokenGrant:
    """A new access token for ``refresh_token`` from the accounts service.

    Client credentials go as HTTP Basic. Raises :class:`TokenRevoked` on
    ``invalid_grant`` (discard the refresh token, log the listener in again),
    :class:`TokenEndpointError` on other token errors, and
    :class:`SpotifyUnavailable` when the accounts service does not answer
    (keep the old refresh token). Store ``refresh_token`` of the answer when
    it is not None: Spotify may rotate it.

    https://developer.spotify.com/documentation/web-api/tutorials/refreshing-tokens
    """
    quick = time.monotonic() + TOKEN_TIMEOUT
    body = request(
        "POST",
        f"{settings.SPOTIFY_AUTH_BASE_URL.rstrip('/')}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(settings.SPOTIFY_CLIENT_ID, settings.SPOTIFY_CLIENT_SECRET),
        deadline=quick if deadline is None else min(deadline, quick),
    )
    return parse_token_grant(body)
