"""What Euterpe keeps of Spotify's objects, as small frozen dataclasses, and how each is read.

Spotify's reference names the JSON objects (PrivateUserObject, TrackObject,
PagingObject...); each ``parse_*`` function reads one and tolerates what
Development Mode and odd answers leave out: a missing field is None (or empty),
never an exception, unless the object is useless without it (a profile without
an id, a page without items: BadResponse). Public so that tests and the
contract test can feed them JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spotify_client.errors import BadResponse
from spotify_client.links import configured_fake_origins, spotify_image_url, spotify_link

# Lists show small pictures: the smallest image at least this wide.
IMAGE_SIZE = 64


@dataclass(frozen=True)
class Image:
    url: str
    width: int | None


@dataclass(frozen=True)
class Profile:
    """What the login keeps (``id``, ``display_name``) and the dashboard shows."""

    id: str
    display_name: str | None
    image: Image | None
    url: str | None


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
    # "spotify:track:<id>", "spotify:local:..." for a local file, "spotify:episode:<id>"
    # should an episode ever come where a track is expected; None when missing.
    uri: str | None = None


@dataclass(frozen=True)
class Artist:
    id: str | None
    name: str
    url: str | None
    image: Image | None
    genres: tuple[str, ...]
    popularity: int | None


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


@dataclass(frozen=True)
class Page[T]:
    """One page of an offset-paged list; ``total`` counts the items of every page."""

    items: tuple[T, ...]
    total: int


@dataclass(frozen=True)
class Play:
    track: Track
    played_at: datetime


@dataclass(frozen=True)
class RecentlyPlayed:
    """Plays, newest first."""

    items: tuple[Play, ...]


@dataclass(frozen=True)
class TokenGrant:
    """A refresh's answer; ``refresh_token`` is None when Spotify kept the old one."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str | None = field(repr=False)
    scope: str


# --- parsing -----------------------------------------------------------------


def parse_profile(body: dict) -> Profile:
    """A PrivateUserObject; BadResponse without an id. Dev Mode fields are optional."""
    user_id = _str(body.get("id"))
    if not user_id:
        raise BadResponse("profile without an id")
    return Profile(
        id=user_id,
        display_name=_str(body.get("display_name")) or None,
        image=choose_image(body.get("images")),
        url=_spotify_url(body),
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
        uri=_spotify_uri(body.get("uri")),
    )


def parse_artist(body: dict) -> Artist:
    """An ArtistObject; genres and popularity are gone in Dev Mode."""
    return Artist(
        id=_str(body.get("id")),
        name=_name(body),
        url=_spotify_url(body),
        image=choose_image(body.get("images")),
        genres=tuple(g for g in _list(body.get("genres")) if isinstance(g, str)),
        popularity=_int(body.get("popularity")),
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
    )


def parse_page[T](body: dict, parse_item, *, offset: int) -> Page[T]:
    """A PagingObject asked for at ``offset``; null (and non-object) entries in
    ``items`` are skipped. Without a ``total``, this page is taken as the last."""
    raw_items = body.get("items")
    if not isinstance(raw_items, list):
        raise BadResponse("page without an items list")
    items = tuple(parse_item(item) for item in raw_items if isinstance(item, dict))
    total = _int(body.get("total"))
    return Page(items=items, total=total if total is not None else offset + len(raw_items))


def parse_play(body: dict) -> Play | None:
    """A PlayHistoryObject, or None when it lacks a track or a readable time."""
    track = body.get("track")
    played_at = _parse_time(body.get("played_at"))
    if not isinstance(track, dict) or played_at is None:
        return None
    return Play(track=parse_track(track), played_at=played_at)


def parse_recently_played(body: dict) -> RecentlyPlayed:
    """A CursorPagingObject of plays (its cursors are not read)."""
    raw_items = body.get("items")
    if not isinstance(raw_items, list):
        raise BadResponse("recently played without an items list")
    plays = (parse_play(item) for item in raw_items if isinstance(item, dict))
    return RecentlyPlayed(items=tuple(play for play in plays if play is not None))


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
    origins = configured_fake_origins()
    parsed = [
        Image(url=item["url"], width=_int(item.get("width")))
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


# --- readers tolerant of whatever Spotify sends ---------------------------------


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


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _name(body: dict) -> str:
    return _str(body.get("name")) or ""


def _spotify_uri(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("spotify:") else None


def _spotify_url(body: dict) -> str | None:
    return spotify_link(_dict(body.get("external_urls")).get("spotify"))
