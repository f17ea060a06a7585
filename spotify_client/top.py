"""The listener's top tracks and top artists over a time range (Users: top items)."""

from __future__ import annotations

from spotify_client.objects import Artist, Page, Track, parse_artist, parse_page, parse_track
from spotify_client.transport import api_url, check_paging, request

TIME_RANGES = ("short_term", "medium_term", "long_term")


def get_top_tracks(
    access_token: str,
    *,
    time_range: str = "medium_term",
    limit: int = 50,
    offset: int = 0,
    deadline: float | None = None,
) -> Page[Track]:
    """The listener's top tracks over ``time_range`` (ValueError if not a known one).

    https://developer.spotify.com/documentation/web-api/reference/get-users-top-artists-and-tracks
    """
    return _get_top("tracks", parse_track, access_token, time_range, limit, offset, deadline)


def get_top_artists(
    access_token: str,
    *,
    time_range: str = "medium_term",
    limit: int = 50,
    offset: int = 0,
    deadline: float | None = None,
) -> Page[Artist]:
    """The listener's top artists over ``time_range`` (ValueError if not a known one).

    https://developer.spotify.com/documentation/web-api/reference/get-users-top-artists-and-tracks
    """
    return _get_top("artists", parse_artist, access_token, time_range, limit, offset, deadline)


def _get_top(kind, parse_item, access_token, time_range, limit, offset, deadline):
    body = request(
        "GET",
        api_url(f"/me/top/{kind}"),
        access_token=access_token,
        params=_top_params(time_range, limit, offset),
        deadline=deadline,
    )
    return parse_page(body, parse_item, offset=offset)


def _top_params(time_range: str, limit: int, offset: int) -> dict:
    if time_range not in TIME_RANGES:
        raise ValueError(f"time_range must be one of {TIME_RANGES}, not {time_range!r}")
    check_paging(limit, offset)
    return {"time_range": time_range, "limit": limit, "offset": offset}
