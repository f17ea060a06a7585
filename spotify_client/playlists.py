"""The listener's playlists, owned and followed (Playlists)."""

from __future__ import annotations

from spotify_client.objects import Page, Playlist, parse_page, parse_playlist
from spotify_client.transport import api_url, check_paging, request


def get_playlists_page(
    access_token: str, *, limit: int = 50, offset: int = 0, deadline: float | None = None
) -> Page[Playlist]:
    """One page of the listener's playlists (owned and followed).

    Callers wanting everything can fetch the first page, then the remaining
    offsets (``range(limit, total, limit)``) concurrently.

    https://developer.spotify.com/documentation/web-api/reference/get-a-list-of-current-users-playlists
    """
    check_paging(limit, offset)
    body = request(
        "GET",
        api_url("/me/playlists"),
        access_token=access_token,
        params={"limit": limit, "offset": offset},
        deadline=deadline,
    )
    return parse_page(body, parse_playlist, offset=offset)
