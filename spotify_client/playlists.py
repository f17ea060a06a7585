"""The listener's playlists, owned and followed (Playlists)."""

from __future__ import annotations

from spotify_client.objects import Page, Playlist, parse_page, parse_playlist
from spotify_client.transport import MAX_LIMIT, api_url, check_paging, request

MAX_PLAYLIST_PAGES = 200


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
    return parse_page(body, parse_playlist, limit=limit, offset=offset)


def get_all_playlists(access_token: str, *, deadline: float | None = None) -> list[Playlist]:
    """Every playlist of the listener, one page after another (a convenience).

    https://developer.spotify.com/documentation/web-api/reference/get-a-list-of-current-users-playlists
    """
    playlists: list[Playlist] = []
    offset = 0
    for _ in range(MAX_PLAYLIST_PAGES):
        page = get_playlists_page(access_token, limit=MAX_LIMIT, offset=offset, deadline=deadline)
        playlists.extend(page.items)
        offset += page.limit
        # Stop on the last page, and on an empty one so a lying total cannot loop.
        if page.next_url is None or offset >= page.total or not page.items:
            break
    return playlists
