"""Every call Euterpe makes to Spotify, and nothing else.

One function per endpoint. Each takes the listener's access token as its first
argument, returns small frozen dataclasses and raises the domain errors below;
none touches a request, a model or the database. Settings are read at call
time: ``SPOTIFY_API_BASE_URL``, ``SPOTIFY_AUTH_BASE_URL``,
``SPOTIFY_CLIENT_ID``, ``SPOTIFY_CLIENT_SECRET`` and, optionally,
``SPOTIFY_READ_TIMEOUT`` (seconds, default 10).

Every function accepts ``deadline``: an absolute ``time.monotonic()`` value
by which the caller needs an answer. Timeouts shrink to fit it, and a retry
is made only if it still fits.

Retry policy (all of it lives in :func:`_request`):

- 5xx, timeouts and connection errors: one retry, if the deadline leaves
  room. A POST (the token refresh) is retried only when the request surely
  never reached Spotify, because a refresh that did arrive may have rotated
  the refresh token already.
- 429: sleep ``Retry-After`` and retry once, only if that fits inside the
  deadline; without a deadline, raise :class:`RateLimited` at once.
- Other 4xx: never.

At most ``SPOTIFY_WAITING_THREADS`` threads of a process wait on Spotify at
once (:func:`waiting_slot`); a call that finds none free raises
:class:`SpotifyBusy` at once.

Tokens are never logged, and never shown in a repr.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

logger = logging.getLogger(__name__)

TIME_RANGES = ("short_term", "medium_term", "long_term")
MAX_LIMIT = 50
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
# A refresh sits in front of a page view: give up on it quickly.
TOKEN_TIMEOUT = 5.0
# A retry is pointless with less than this left before the deadline.
MIN_ATTEMPT_SECONDS = 0.5
POOL_SIZE = 32
# Lists show small pictures: the smallest image at least this wide.
IMAGE_SIZE = 64
MAX_PLAYLIST_PAGES = 200


# --- errors ------------------------------------------------------------------


class SpotifyError(Exception):
    """Base of every error this module raises; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str = "", *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class TokenExpired(SpotifyError):
    """401: the access token expired or was revoked; refresh it and try again."""


class NotOnAllowList(SpotifyError):
    """403 "User not registered in the Developer Dashboard" (Development Mode)."""


class RateLimited(SpotifyError):
    """429; ``retry_after`` in seconds (None when Spotify gave none), ``reason``
    such as ``QUOTA_EXCEEDED`` when the body names one."""

    def __init__(
        self,
        retry_after: int | None = None,
        *,
        reason: str | None = None,
        message: str = "Rate limited by Spotify",
        status: int | None = 429,
    ):
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.reason = reason


class SpotifyUnavailable(SpotifyError):
    """5xx, a timeout, a refused connection, or no time left before the deadline."""


class BadResponse(SpotifyError):
    """An answer Euterpe cannot use: not JSON, an unexpected shape, another 4xx."""


class TokenRevoked(SpotifyError):
    """The accounts service said ``invalid_grant``: the refresh token is dead
    (expired, revoked or rotated away). Discard it and ask the listener to log
    in again; do not retry."""


class SpotifyBusy(SpotifyError):
    """Every thread this process lets wait on Spotify is waiting already (see
    :func:`waiting_slot`): answer without Spotify (a section's message, a "busy,
    try again" page) instead of queueing."""


class TokenEndpointError(BadResponse):
    """Any other error from the token endpoint (``invalid_client``...)."""


# --- data --------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    url: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class Profile:
    id: str
    display_name: str | None
    email: str | None
    country: str | None
    product: str | None
    followers: int | None
    image: Image | None
    url: str | None
    account_id: str | None = None

    @property
    def name(self) -> str:
        """What to call the listener: the display name, else the user id."""
        return self.display_name or self.id


@dataclass(frozen=True)
class ArtistRef:
    id: str | None
    name: str
    url: str | None


@dataclass(frozen=True)
class Album:
    id: str | None
    name: str
    url: str | None
    image: Image | None


@dataclass(frozen=True)
class Track:
    id: str | None
    name: str
    url: str | None
    artists: tuple[ArtistRef, ...]
    album: Album | None
    duration_ms: int | None
    popularity: int | None
    explicit: bool
    is_local: bool


@dataclass(frozen=True)
class Artist:
    id: str | None
    name: str
    url: str | None
    image: Image | None
    genres: tuple[str, ...]
    popularity: int | None
    followers: int | None


@dataclass(frozen=True)
class Playlist:
    id: str | None
    name: str
    url: str | None
    image: Image | None
    owner_name: str | None
    owner_id: str | None
    owner_url: str | None
    track_count: int | None
    public: bool | None
    collaborative: bool
    description: str | None


@dataclass(frozen=True)
class Page[T]:
    """One page of an offset-paged list; ``next_url`` is None on the last page."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int
    next_url: str | None


PlaylistPage = Page[Playlist]


@dataclass(frozen=True)
class Play:
    track: Track
    played_at: datetime
    context_type: str | None
    context_uri: str | None


@dataclass(frozen=True)
class RecentlyPlayed:
    """Plays, newest first; pass ``cursor_before`` as ``before`` for older ones."""

    items: tuple[Play, ...]
    next_url: str | None
    cursor_before: int | None
    cursor_after: int | None


@dataclass(frozen=True)
class TokenGrant:
    """A refresh's answer; ``refresh_token`` is None when Spotify kept the old one."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str | None = field(repr=False)
    scope: str


# --- endpoints ---------------------------------------------------------------


def get_profile(access_token: str, *, deadline: float | None = None) -> Profile:
    """The listener's profile.

    https://developer.spotify.com/documentation/web-api/reference/get-current-users-profile
    """
    body = _request("GET", _api_url("/me"), access_token=access_token, deadline=deadline)
    return parse_profile(body)


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
    body = _request(
        "GET",
        _api_url(f"/me/top/{kind}"),
        access_token=access_token,
        params=_top_params(time_range, limit, offset),
        deadline=deadline,
    )
    return parse_page(body, parse_item, limit=limit, offset=offset)


def get_playlists_page(
    access_token: str, *, limit: int = 50, offset: int = 0, deadline: float | None = None
) -> Page[Playlist]:
    """One page of the listener's playlists (owned and followed).

    Callers wanting everything can fetch the first page, then the remaining
    offsets (``range(limit, total, limit)``) concurrently.

    https://developer.spotify.com/documentation/web-api/reference/get-a-list-of-current-users-playlists
    """
    _check_paging(limit, offset)
    body = _request(
        "GET",
        _api_url("/me/playlists"),
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
    _check_paging(limit, 0)
    if before is not None and after is not None:
        raise ValueError("give before or after, not both")
    params: dict[str, int] = {"limit": limit}
    if before is not None:
        params["before"] = _to_millis(before)
    if after is not None:
        params["after"] = _to_millis(after)
    body = _request(
        "GET",
        _api_url("/me/player/recently-played"),
        access_token=access_token,
        params=params,
        deadline=deadline,
    )
    return parse_recently_played(body)


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
    body = _request(
        "POST",
        f"{settings.SPOTIFY_AUTH_BASE_URL.rstrip('/')}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(settings.SPOTIFY_CLIENT_ID, settings.SPOTIFY_CLIENT_SECRET),
        deadline=quick if deadline is None else min(deadline, quick),
    )
    return parse_token_grant(body)


# --- parsing (public so tests and the contract test can feed it JSON) --------


def parse_profile(body: dict) -> Profile:
    """A PrivateUserObject; BadResponse without an id. Dev Mode fields are optional."""
    user_id = _str(body.get("id"))
    if not user_id:
        raise BadResponse("profile without an id")
    return Profile(
        id=user_id,
        display_name=_str(body.get("display_name")) or None,
        email=_str(body.get("email")),
        country=_str(body.get("country")),
        product=_str(body.get("product")),
        followers=_int(_dict(body.get("followers")).get("total")),
        image=choose_image(body.get("images")),
        url=_spotify_url(body),
        account_id=_str(body.get("account_id")),
    )


def parse_artist_ref(body: dict) -> ArtistRef:
    return ArtistRef(id=_str(body.get("id")), name=_name(body), url=_spotify_url(body))


def parse_album(body: Any) -> Album | None:
    if not isinstance(body, dict):
        return None
    return Album(
        id=_str(body.get("id")),
        name=_name(body),
        url=_spotify_url(body),
        image=choose_image(body.get("images")),
    )


def parse_track(body: dict) -> Track:
    """A TrackObject; local files come with no id, no url and no album art."""
    return Track(
        id=_str(body.get("id")),
        name=_name(body),
        url=_spotify_url(body),
        artists=tuple(
            parse_artist_ref(a) for a in _list(body.get("artists")) if isinstance(a, dict)
        ),
        album=parse_album(body.get("album")),
        duration_ms=_int(body.get("duration_ms")),
        popularity=_int(body.get("popularity")),
        explicit=body.get("explicit") is True,
        is_local=body.get("is_local") is True,
    )


def parse_artist(body: dict) -> Artist:
    """An ArtistObject; genres, popularity and followers are gone in Dev Mode."""
    return Artist(
        id=_str(body.get("id")),
        name=_name(body),
        url=_spotify_url(body),
        image=choose_image(body.get("images")),
        genres=tuple(g for g in _list(body.get("genres")) if isinstance(g, str)),
        popularity=_int(body.get("popularity")),
        followers=_int(_dict(body.get("followers")).get("total")),
    )


def parse_playlist(body: dict) -> Playlist:
    """A SimplifiedPlaylistObject; the count is ``items.total``, else ``tracks.total``."""
    owner = _dict(body.get("owner"))
    track_count = _int(_dict(body.get("items")).get("total"))
    if track_count is None:
        track_count = _int(_dict(body.get("tracks")).get("total"))
    public = body.get("public")
    return Playlist(
        id=_str(body.get("id")),
        name=_name(body),
        url=_spotify_url(body),
        image=choose_image(body.get("images")),
        owner_name=_str(owner.get("display_name")),
        owner_id=_str(owner.get("id")),
        owner_url=_spotify_url(owner),
        track_count=track_count,
        public=public if isinstance(public, bool) else None,
        collaborative=body.get("collaborative") is True,
        description=_str(body.get("description")) or None,
    )


def parse_page[T](body: dict, parse_item, *, limit: int, offset: int) -> Page[T]:
    """A PagingObject; null (and non-object) entries in ``items`` are skipped."""
    raw_items = body.get("items")
    if not isinstance(raw_items, list):
        raise BadResponse("page without an items list")
    items = tuple(parse_item(item) for item in raw_items if isinstance(item, dict))
    total = _int(body.get("total"))
    return Page(
        items=items,
        total=total if total is not None else offset + len(raw_items),
        limit=_int(body.get("limit")) or limit,
        offset=_int(body.get("offset")) if _int(body.get("offset")) is not None else offset,
        next_url=_str(body.get("next")),
    )


def parse_play(body: dict) -> Play | None:
    """A PlayHistoryObject, or None when it lacks a track or a readable time."""
    track = body.get("track")
    played_at = _parse_time(body.get("played_at"))
    if not isinstance(track, dict) or played_at is None:
        return None
    context = _dict(body.get("context"))
    return Play(
        track=parse_track(track),
        played_at=played_at,
        context_type=_str(context.get("type")),
        context_uri=_str(context.get("uri")),
    )


def parse_recently_played(body: dict) -> RecentlyPlayed:
    """A CursorPagingObject of plays; ``cursors`` may be null."""
    raw_items = body.get("items")
    if not isinstance(raw_items, list):
        raise BadResponse("recently played without an items list")
    plays = (parse_play(item) for item in raw_items if isinstance(item, dict))
    cursors = _dict(body.get("cursors"))
    return RecentlyPlayed(
        items=tuple(play for play in plays if play is not None),
        next_url=_str(body.get("next")),
        cursor_before=_int_text(cursors.get("before")),
        cursor_after=_int_text(cursors.get("after")),
    )


def parse_token_grant(body: dict) -> TokenGrant:
    """The token endpoint's answer; BadResponse without an access token."""
    access_token = _str(body.get("access_token"))
    if not access_token:
        raise BadResponse("token answer without an access_token")
    expires_in = _int(body.get("expires_in"))
    return TokenGrant(
        access_token=access_token,
        # Spotify always says 3600; assume it if the field ever goes missing.
        expires_in=expires_in if expires_in is not None else 3600,
        refresh_token=_str(body.get("refresh_token")) or None,
        scope=_str(body.get("scope")) or "",
    )


def choose_image(images: Any, min_size: int = IMAGE_SIZE) -> Image | None:
    """The smallest image at least ``min_size`` wide, else the widest, else the first.

    Tolerates null, [] and images without width/height (custom playlist covers).
    Images that are not Spotify's (see :func:`spotify_image_url`) are left out.
    """
    origins = _fake_origins()
    parsed = [
        Image(url=item["url"], width=_int(item.get("width")), height=_int(item.get("height")))
        for item in _list(images)
        if isinstance(item, dict) and spotify_image_url(item.get("url"), origins)
    ]
    if not parsed:
        return None
    sized = [image for image in parsed if image.width]
    big_enough = [image for image in sized if image.width >= min_size]
    if big_enough:
        return min(big_enough, key=lambda image: image.width)
    if sized:
        return max(sized, key=lambda image: image.width)
    return parsed[0]


# --- HTTP --------------------------------------------------------------------

_session: requests.Session | None = None
_session_lock = threading.Lock()


def _get_session() -> requests.Session:
    """One pooled session for the process, so connections to Spotify are reused."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            # No urllib3 retries: the retry policy is _request's alone.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session = session
        return _session


# --- how many threads wait on Spotify ---------------------------------------------

# Whether the current context (a request, and the fetch threads it starts with its
# context copied) holds one of the process's slots.
_holding_slot: ContextVar[bool] = ContextVar("spotify_waiting_slot", default=False)
_slots_lock = threading.Lock()
_slots_taken = 0


@contextmanager
def waiting_slot() -> Iterator[None]:
    """Hold one of this process's slots for waiting on Spotify, for the block.

    At most ``SPOTIFY_WAITING_THREADS`` (half of WEB_THREADS, never all) threads of a
    gunicorn worker wait on Spotify at once, so that when Spotify hangs at least one
    thread stays free for /health, warm pages, static files and the login page.
    Taking a slot never waits: with none free, SpotifyBusy is raised at once.

    Every call of this module takes one for itself unless its context holds one:
    a request holds one for all it asks Spotify (a dashboard's sections and its
    token refresh; a login's token exchange and profile), and threads started
    with its context copied (``contextvars.copy_context().run``) share it.
    Re-entering in a context that holds one is free.
    """
    global _slots_taken
    if _holding_slot.get():
        yield
        return
    with _slots_lock:
        if _slots_taken >= settings.SPOTIFY_WAITING_THREADS:
            raise SpotifyBusy("every thread that may wait on Spotify is waiting")
        _slots_taken += 1
    marker = _holding_slot.set(True)
    try:
        yield
    finally:
        _holding_slot.reset(marker)
        with _slots_lock:
            _slots_taken -= 1


def waiting_threads() -> int:
    """How many threads of this process hold a slot now."""
    with _slots_lock:
        return _slots_taken


def _request(method: str, url: str, **kwargs) -> dict:
    """:func:`_exchange` in a waiting slot (the caller's, or one of its own)."""
    with waiting_slot():
        return _exchange(method, url, **kwargs)


def _exchange(
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    params: dict | None = None,
    data: dict | None = None,
    auth: tuple[str, str] | None = None,
    deadline: float | None = None,
) -> dict:
    """Call Spotify once, maybe twice (see the module docstring); the JSON object.

    Raises the domain errors; never lets a requests exception out.
    """
    headers = {"Accept": "application/json"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    path = urlsplit(url).path
    for attempt in (1, 2):
        timeout = _timeouts(deadline, method, path)
        started = time.monotonic()
        try:
            response = _get_session().request(
                method,
                url,
                params=params,
                data=data,
                auth=auth,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            logger.warning(
                "Spotify %s %s failed after %.3fs: %s",
                method,
                path,
                time.monotonic() - started,
                type(exc).__name__,
            )
            may_retry = method == "GET" or _never_sent(exc)
            if attempt == 1 and may_retry and _has_room(deadline):
                continue
            raise SpotifyUnavailable(f"Spotify did not answer {method} {path}") from exc
        except requests.RequestException as exc:
            # Any other requests failure (a body that is not the gzip it claims,
            # an odd header, a bad base URL): unusable, and not worth a retry.
            # Only the class is logged: the message may carry the URL.
            logger.warning(
                "Spotify %s %s failed after %.3fs: %s",
                method,
                path,
                time.monotonic() - started,
                type(exc).__name__,
            )
            raise BadResponse(f"Spotify's answer to {method} {path} was unusable") from exc
        status = response.status_code
        logger.info("Spotify %s %s %s %.3fs", method, path, status, time.monotonic() - started)
        if status == 429:
            retry_after = _retry_after(response)
            if attempt == 1 and _fits(deadline, retry_after):
                time.sleep(retry_after)
                continue
            raise _error_for(response)
        if status >= 500:
            if attempt == 1 and method == "GET" and _has_room(deadline):
                continue
            raise SpotifyUnavailable(f"Spotify answered {status} to {method} {path}", status=status)
        if status >= 400 or status < 200:
            raise _error_for(response)
        return _json_object(response)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _timeouts(deadline: float | None, method: str, path: str) -> tuple[float, float]:
    """(connect, read) timeouts that end by ``deadline``; SpotifyUnavailable if it passed."""
    read = float(getattr(settings, "SPOTIFY_READ_TIMEOUT", READ_TIMEOUT))
    connect = CONNECT_TIMEOUT
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SpotifyUnavailable(f"no time left for {method} {path}")
        read, connect = min(read, remaining), min(connect, remaining)
    return connect, read


def _has_room(deadline: float | None) -> bool:
    return deadline is None or deadline - time.monotonic() >= MIN_ATTEMPT_SECONDS


def _fits(deadline: float | None, retry_after: int | None) -> bool:
    """Whether sleeping ``retry_after`` and one more attempt fit before ``deadline``."""
    if deadline is None or retry_after is None:
        return False
    return time.monotonic() + retry_after + MIN_ATTEMPT_SECONDS <= deadline


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never made, so Spotify cannot have acted on it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    # isdigit() alone is true for "²", which int() refuses.
    return int(value) if value.isascii() and value.isdigit() else None


def _error_for(response: requests.Response) -> SpotifyError:
    """Translate an error answer (Web API or accounts service) into a domain error."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # the accounts service: {"error", "error_description"}
        description = _str(body.get("error_description")) or ""
        if error == "invalid_grant":
            return TokenRevoked(description or "invalid_grant", status=status)
        if status == 429:
            return RateLimited(_retry_after(response), message=description, status=status)
        return TokenEndpointError(f"{error}: {description}", status=status)
    details = _dict(error)
    message = _str(details.get("message")) or f"HTTP {status}"
    if status == 401:
        return TokenExpired(message, status=status)
    if status == 403 and "not registered" in message.lower():
        return NotOnAllowList(message, status=status)
    if status == 429:
        reason = _str(details.get("reason")) or _str(_dict(body).get("reason"))
        return RateLimited(_retry_after(response), reason=reason, message=message, status=status)
    return BadResponse(f"Spotify answered {status}: {message}", status=status)


def _json_object(response: requests.Response) -> dict:
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise BadResponse("Spotify's answer is not JSON", status=response.status_code) from exc
    if not isinstance(body, dict):
        raise BadResponse("Spotify's answer is not a JSON object", status=response.status_code)
    return body


# --- small helpers -----------------------------------------------------------


def _api_url(path: str) -> str:
    return f"{settings.SPOTIFY_API_BASE_URL.rstrip('/')}{path}"


def _check_paging(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_LIMIT}, not {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset}")


def _top_params(time_range: str, limit: int, offset: int) -> dict:
    if time_range not in TIME_RANGES:
        raise ValueError(f"time_range must be one of {TIME_RANGES}, not {time_range!r}")
    _check_paging(limit, offset)
    return {"time_range": time_range, "limit": limit, "offset": offset}


def _to_millis(moment: int | datetime) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("use an aware datetime")
        return int(moment.timestamp() * 1000)
    return int(moment)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # Spotify's times are UTC even when unmarked
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # "9999-12-31T23:59:59-01:00" is past year 9999 in UTC
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int_text(value: Any) -> int | None:
    if isinstance(value, str):
        # isdigit() alone is true for "²", which int() refuses.
        return int(value) if value.isascii() and value.isdigit() else None
    return _int(value)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _name(body: dict) -> str:
    return _str(body.get("name")) or ""


def _spotify_url(body: dict) -> str | None:
    return spotify_link(_dict(body.get("external_urls")).get("spotify"))


# --- links and images: only Spotify's -------------------------------------------
# What Spotify sends goes into href and src attributes: a hostile or broken answer
# must not put a javascript: or data: link or a foreign tracking pixel on the page.

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


def _fake_origins() -> frozenset[str]:
    """Origins of the configured Spotify URLs that are not Spotify's: the fake's."""
    origins = set()
    for url in (settings.SPOTIFY_API_BASE_URL, settings.SPOTIFY_AUTH_BASE_URL):
        parts = urlsplit(url)
        origins.add(f"{parts.scheme}://{parts.netloc.lower()}")
    return frozenset(origins - SPOTIFY_ORIGINS)
