"""The Web API endpoints Euterpe uses, under ``/v1``, answering as Spotify does.

- ``GET /v1/me``, ``/v1/me/top/tracks``, ``/v1/me/top/artists``,
  ``/v1/me/playlists``: PagingObjects with real ``next``/``previous`` links.
- ``GET /v1/me/player/recently-played``: a CursorPagingObject (``before`` or
  ``after``, never both).

Errors are Spotify's ``{"error": {"status", "message"}}``; a bad token is 401
with ``WWW-Authenticate``, a listener off the app's allow-list is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from devtools.fakespotify import data
from devtools.fakespotify.accounts import AccountsService, TokenRefused
from devtools.fakespotify.listeners import Listeners
from devtools.fakespotify.wire import Request, Response

MAX_LIMIT = 50
DEFAULT_LIMIT = 20
_NOT_REGISTERED = "User not registered in the Developer Dashboard"


class ApiError(Exception):
    """Raised inside a Web API handler; becomes Spotify's error object."""

    def __init__(self, status: int, message: str, **headers: str):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        payload = {"error": {"status": self.status, "message": self.message}}
        return Response.json(self.status, payload, **self.headers)


class WebApi:
    """Answers ``/v1/...`` for the listener whose access token comes with the call."""

    def __init__(
        self, accounts: AccountsService, listeners: Listeners, base_url: Callable[[], str]
    ):
        self.accounts = accounts
        self.listeners = listeners
        # Known only once the server listens (a free port is picked then).
        self._base_url = base_url
        self._routes = {
            "/v1/me": self._me,
            "/v1/me/top/tracks": self._top_tracks,
            "/v1/me/top/artists": self._top_artists,
            "/v1/me/playlists": self._playlists,
            "/v1/me/player/recently-played": self._recently_played,
        }

    @property
    def base_url(self) -> str:
        return self._base_url()

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def handle(self, request: Request) -> Response:
        handler = self._routes.get(request.path)
        try:
            if handler is None:
                raise ApiError(404, "Service not found")
            if request.method != "GET":
                raise ApiError(405, "Method not allowed")
            return handler(request, self._authenticate(request))
        except ApiError as exc:
            return exc.response()

    def _authenticate(self, request: Request) -> data.Listener:
        if not request.headers.get("Authorization"):
            raise ApiError(401, "No token provided")
        token = request.bearer()
        if token is None:
            raise ApiError(400, "Only valid bearer authentication supported")
        try:
            listener_id = self.accounts.listener_of_access_token(token)
        except TokenRefused as refused:
            message = str(refused)
            challenge = (
                f'Bearer realm="spotify", error="invalid_token", error_description="{message}"'
            )
            raise ApiError(401, message, **{"WWW-Authenticate": challenge}) from None
        if not self.listeners.is_allowed(listener_id):
            raise ApiError(403, _NOT_REGISTERED)
        return self.listeners.get(listener_id)

    # -- endpoints --

    def _me(self, request: Request, listener: data.Listener) -> Response:
        return Response.json(200, data.render_profile(listener, self.base_url))

    def _top_tracks(self, request: Request, listener: data.Listener) -> Response:
        return self._top(request, listener, "tracks")

    def _top_artists(self, request: Request, listener: data.Listener) -> Response:
        return self._top(request, listener, "artists")

    def _top(self, request: Request, listener: data.Listener, kind: str) -> Response:
        time_range = request.query.get("time_range", "medium_term")
        if time_range not in data.TIME_RANGES:
            raise ApiError(400, "Invalid time range")
        limit, offset = _limit(request.query), _offset(request.query)
        if kind == "tracks":
            source = listener.top_tracks[time_range]
            render = data.render_track
        else:
            source = listener.top_artists[time_range]
            render = data.render_artist
        items = [
            render(item, self.base_url, legacy=listener.legacy)
            for item in source[offset : offset + limit]
        ]
        page = self._page(
            f"/me/top/{kind}", items, len(source), limit, offset, {"time_range": time_range}
        )
        return Response.json(200, page)

    def _playlists(self, request: Request, listener: data.Listener) -> Response:
        limit, offset = _limit(request.query), _offset(request.query)
        items = [
            data.render_playlist(playlist, self.base_url, legacy=listener.legacy)
            for playlist in listener.playlists[offset : offset + limit]
        ]
        page = self._page("/me/playlists", items, len(listener.playlists), limit, offset, {})
        return Response.json(200, page)

    def _page(self, path, items, total, limit, offset, extra) -> dict:
        """A PagingObject with real ``next``/``previous`` links."""
        api = self.api_base_url

        def url(at: int) -> str:
            return f"{api}{path}?" + urlencode({"offset": at, "limit": limit, **extra})

        return {
            "href": url(offset),
            "items": items,
            "limit": limit,
            "next": url(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": url(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        }

    def _recently_played(self, request: Request, listener: data.Listener) -> Response:
        limit = _limit(request.query)
        before = _timestamp(request.query, "before")
        after = _timestamp(request.query, "after")
        if before is not None and after is not None:
            raise ApiError(400, "Only one of 'before' or 'after' may be specified")
        moments = self.listeners.recently_played(listener)
        if before is not None:
            older = [m for m in moments if _millis(m[0]) < before]
            chosen, more = older[:limit], len(older) > limit
        elif after is not None:
            # The plays right after the cursor, still newest first.
            newer = [m for m in moments if _millis(m[0]) > after]
            chosen = newer[-limit:]
            more = bool(chosen) and _millis(chosen[-1][0]) > _millis(moments[-1][0])
        else:
            chosen, more = moments[:limit], len(moments) > limit
        return Response.json(200, self._cursor_page(listener, chosen, limit, more, before, after))

    def _cursor_page(self, listener, chosen, limit, more, before, after) -> dict:
        """A CursorPagingObject; ``cursors`` is null when there is nothing to page."""
        endpoint = f"{self.api_base_url}/me/player/recently-played"
        query = {"limit": limit}
        if before is not None:
            query["before"] = before
        if after is not None:
            query["after"] = after
        cursors = None
        next_url = None
        if chosen:
            cursors = {
                "after": str(_millis(chosen[0][0])),
                "before": str(_millis(chosen[-1][0])),
            }
            if more:
                next_url = f"{endpoint}?" + urlencode({"before": cursors["before"], "limit": limit})
        items = [
            data.render_play(play, moment, self.base_url, legacy=listener.legacy)
            for moment, play in chosen
        ]
        return {
            "cursors": cursors,
            "href": f"{endpoint}?" + urlencode(query),
            "items": items,
            "limit": limit,
            "next": next_url,
        }


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name}") from None
    if not low <= value <= high:
        raise ApiError(400, f"Invalid {name}")
    return value


def _limit(query: dict[str, str]) -> int:
    return _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def _offset(query: dict[str, str]) -> int:
    return _int_param(query, "offset", 0, 0, 100_000)


def _timestamp(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    return _int_param(query, name, 0, 0, 10**14)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000
