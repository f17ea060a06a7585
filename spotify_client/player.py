"""What the listener played recently (Player)."""

from __future__ import annotations

from datetime import datetime

from spotify_client.objects import RecentlyPlayed, parse_recently_played
from spotify_client.transport import api_url, check_paging, request


def get_recently_played(
    access_token: str,
    *,
    limit: int = 50,
    before: int | datetime | None = None,
    after: int | datetime | None = None,
    deadline: float | None = None,
) -> RecentlyPlayed:
    """The listener's recent plays, newest first (plays over 30 s; no podcasts).

    ``before``/``after`` are Unix milliseconds or aware datetimes; give at
    most one (ValueError otherwise).

    https://developer.spotify.com/documentation/web-api/reference/get-recently-played
    """
    check_paging(limit, 0)
    if before is not None and after is not None:
        raise ValueError("give before or after, not both")
    params: dict[str, int] = {"limit": limit}
    if before is not None:
        params["before"] = _to_millis(before)
    if after is not None:
        params["after"] = _to_millis(after)
    body = request(
        "GET",
        api_url("/me/player/recently-played"),
        access_token=access_token,
        params=params,
        deadline=deadline,
    )
    return parse_recently_played(body)


def _to_millis(moment: int | datetime) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("use an aware datetime")
        return int(moment.timestamp() * 1000)
    return int(moment)
