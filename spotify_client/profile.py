"""The listener's profile (Users)."""

from __future__ import annotations

from spotify_client.objects import Profile, parse_profile
from spotify_client.transport import api_url, request


def get_profile(access_token: str, *, deadline: float | None = None) -> Profile:
    """The listener's profile.

    https://developer.spotify.com/documentation/web-api/reference/get-current-users-profile
    """
    body = request("GET", api_url("/me"), access_token=access_token, deadline=deadline)
    return parse_profile(body)
