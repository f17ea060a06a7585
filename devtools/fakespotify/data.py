"""Demo listeners of the fake Spotify, and how they render as Spotify JSON.

Everything here is deterministic: the same listener id always yields the same
profile, top items, playlists and plays, so tests can name what they expect.

The demo listeners and what each one exercises:

- ``alice``, ``bob``, ``carol``: ordinary Development Mode listeners with
  distinct taste (alice's top artist is "Velvet Orchard", bob's "Brass
  Harbour", carol's "Copper Tide"). carol's lists contain ``null`` entries and
  a local track; alice's recently played contains a local track.
- ``legacy``: an extended-quota app's listener: ``/me`` still has email,
  country, product, followers and explicit_content; artists have genres,
  popularity and followers; tracks have popularity; playlists carry only the
  deprecated ``tracks: {href, total}``.
- ``nameless``: ``display_name`` null, ``images`` [], no playlists, nothing
  recently played.
- ``unicode``: Björk, 坂本龍一, Сергей Курёхин, emoji.
- ``html``: names made of markup (``<script>alert("x")</script>``...), for
  escaping tests.
- ``collector``: 120 playlists.
- ``stranger``: not on the app's allow-list: completes OAuth, then every Web
  API call answers 403.

Images are referenced by name (``{kind}-{id}-{size}``) and rendered by the
server as SVGs; :attr:`Listener.image_labels` says what text each one shows.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

TIME_RANGES = ("short_term", "medium_term", "long_term")
ALBUM_SIZES = (640, 300, 64)
MOSAIC_SIZES = (640, 300, 60)
AVATAR_SIZES = (300, 64)
OPEN_URL = "https://open.spotify.com"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def spotify_id(kind: str, key: str) -> str:
    """A stable 22-character base62 id, like Spotify's, derived from ``key``."""
    number = int.from_bytes(hashlib.sha256(f"{kind}:{key}".encode()).digest())
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


@dataclass(frozen=True)
class Artist:
    id: str
    name: str
    genres: tuple[str, ...]
    popularity: int
    followers: int


@dataclass(frozen=True)
class Album:
    id: str
    name: str
    artists: tuple[Artist, ...]
    album_type: str
    release_date: str
    release_date_precision: str
    total_tracks: int


@dataclass(frozen=True)
class Track:
    id: str | None
    name: str
    artists: tuple[Artist, ...]
    album: Album | None
    duration_ms: int
    explicit: bool
    popularity: int
    is_local: bool = False


@dataclass(frozen=True)
class Playlist:
    id: str
    name: str
    description: str | None
    owner_id: str
    owner_name: str | None
    public: bool | None
    collaborative: bool
    total: int
    # "mosaic" (three sized images), "custom" (one image without sizes),
    # "empty" ([]) or "null" (null): Spotify sends all four.
    image_style: str


@dataclass(frozen=True)
class Play:
    track: Track
    seconds_ago: int
    millis: int
    # (type, id) of the album/playlist/artist it was played from, or None.
    context: tuple[str, str] | None


@dataclass
class Listener:
    """One demo listener: profile facts plus everything Spotify knows about them."""

    id: str
    display_name: str | None
    has_avatar: bool = True
    legacy: bool = False
    allowed: bool = True
    top_tracks: dict[str, list[Track | None]] = field(default_factory=dict)
    top_artists: dict[str, list[Artist | None]] = field(default_factory=dict)
    playlists: list[Playlist] = field(default_factory=list)
    plays: list[Play] = field(default_factory=list)
    image_labels: dict[str, str] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return spotify_id("account", self.id)[:10]


# --- vocabulary --------------------------------------------------------------

_ADJECTIVES = [
    "Amber",
    "Broken",
    "Cobalt",
    "Distant",
    "Electric",
    "Faded",
    "Golden",
    "Hollow",
    "Ivory",
    "Jade",
    "Kind",
    "Lunar",
    "Midnight",
    "Neon",
    "Paper",
    "Quiet",
    "Restless",
    "Silver",
    "Tender",
    "Velvet",
    "Wild",
    "Young",
    "Crimson",
    "Drowsy",
    "Frozen",
    "Gentle",
    "Hidden",
    "Lazy",
    "Marble",
    "Northern",
    "Pale",
    "Rusty",
    "Secret",
    "Sleepy",
    "Stray",
    "Sunken",
]
_NOUNS = [
    "Orchard",
    "Harbour",
    "Tide",
    "Lanterns",
    "Foxes",
    "Rivers",
    "Engines",
    "Satellites",
    "Gardens",
    "Wolves",
    "Parade",
    "Choir",
    "Machines",
    "Comets",
    "Horses",
    "Pilots",
    "Sirens",
    "Ghosts",
    "Echoes",
    "Harvest",
    "Islands",
    "Owls",
    "Mirrors",
    "Robots",
    "Saints",
    "Sparrows",
    "Tigers",
    "Vessels",
    "Waves",
    "Ashes",
    "Canyons",
    "Dunes",
    "Ferns",
    "Kites",
]
_TRACK_WORDS = [
    "Summer",
    "Rain",
    "Night",
    "Drive",
    "Lights",
    "Heart",
    "Ocean",
    "Fire",
    "Dreams",
    "Sky",
    "Home",
    "Road",
    "City",
    "Morning",
    "Shadows",
    "Stars",
    "Gold",
    "Glass",
    "Echo",
    "Running",
    "Falling",
    "Dancing",
    "Waiting",
    "Burning",
    "Slow",
    "Fast",
    "Blue",
    "Red",
    "Forever",
    "Tonight",
    "Again",
    "Alone",
    "Together",
    "Little",
    "Big",
    "Last",
    "First",
    "Only",
    "Sweet",
]
_GENRES = (
    "indie pop",
    "dream pop",
    "shoegaze",
    "jazz fusion",
    "synthwave",
    "art rock",
    "neo soul",
    "chamber folk",
    "city pop",
    "post-punk",
    "ambient",
    "trip hop",
)

_UNICODE_ARTISTS = (
    "Björk",
    "坂本龍一",
    "Сергей Курёхин",
    "Sigur Rós",
    "Mötley Crüe",
    "Beyoncé",
    "Ólafur Arnalds",
    "宇多田ヒカル",
    "Röyksopp",
    "🎷 Saxophone Emoji Band 🎶",
    "Zoë Keating",
    "Édith Piaf",
)
_UNICODE_TRACKS = (
    "Jóga",
    "戦場のメリークリスマス",
    "Звезда по имени Солнце",
    "Hoppípolla",
    "First Love / 初恋",
    "Non, je ne regrette rien",
    "🌧️ Rainy Day ☔",
    "Ñandú",
    "Ça plane pour moi",
    "Straße der Sehnsucht",
)
_HTML_ARTISTS = (
    '<script>alert("x")</script>',
    '<b>bold</b> & "quotes"',
    "</title><h1>Heading</h1>",
    "Tom's 'Single' & Co",
    "{{ template }} {% tag %}",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "&amp; &lt;already escaped&gt;",
)
_HTML_TRACKS = (
    "</script><script>alert(1)</script>",
    "<i>Italic</i> Love",
    'Say "Hello" & <Goodbye>',
    "--><!-- comment",
    "${jndi:ldap://x}",
    "'; DROP TABLE tracks; --",
)


# --- building ---------------------------------------------------------------


class _Builder:
    """Builds one listener's catalogue from a seeded RNG."""

    def __init__(self, listener: Listener, *, heads: tuple[str, ...] = (), track_names=()):
        self.listener = listener
        self.rng = random.Random(f"fakespotify:{listener.id}")
        self.heads = heads
        self.track_names = track_names

    def label(self, kind: str, item_id: str, text: str) -> None:
        self.listener.image_labels[f"{kind}-{item_id}"] = text

    def artist(self, name: str) -> Artist:
        artist_id = spotify_id("artist", name)
        self.label("artist", artist_id, name)
        return Artist(
            id=artist_id,
            name=name,
            genres=tuple(self.rng.sample(_GENRES, self.rng.randint(0, 3))),
            popularity=self.rng.randint(5, 95),
            followers=self.rng.randint(100, 5_000_000),
        )

    def artist_pool(self, size: int) -> list[Artist]:
        names = list(self.heads)
        while len(names) < size:
            name = f"{self.rng.choice(_ADJECTIVES)} {self.rng.choice(_NOUNS)}"
            if self.rng.random() < 0.2:
                name = f"The {name}"
            if name not in names:
                names.append(name)
        return [self.artist(name) for name in names]

    def album(self, artist: Artist) -> Album:
        words = self.rng.sample(_TRACK_WORDS, 2)
        name = " ".join(words)
        album_id = spotify_id("album", f"{artist.id}:{name}")
        self.label("album", album_id, name)
        year = self.rng.randint(1968, 2026)
        precision = self.rng.choice(("day", "day", "day", "month", "year"))
        release = {
            "day": f"{year}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
            "month": f"{year}-{self.rng.randint(1, 12):02d}",
            "year": str(year),
        }[precision]
        return Album(
            id=album_id,
            name=name,
            artists=(artist,),
            album_type=self.rng.choice(("album", "album", "single", "compilation")),
            release_date=release,
            release_date_precision=precision,
            total_tracks=self.rng.randint(1, 18),
        )

    def track_pool(self, artists: list[Artist], size: int) -> list[Track]:
        tracks: list[Track] = []
        names = list(self.track_names)
        for index in range(size):
            # The first tracks belong to the listener's head artists, so a
            # listener's top track is recognisably theirs.
            artist = artists[index] if index < len(self.heads) else self.rng.choice(artists)
            featured = (artist,)
            if self.rng.random() < 0.15:
                featured = (artist, self.rng.choice(artists))
                if featured[0] == featured[1]:
                    featured = (artist,)
            if names:
                name = names.pop(0)
            else:
                name = " ".join(self.rng.sample(_TRACK_WORDS, self.rng.randint(1, 3)))
            album = self.album(artist)
            tracks.append(
                Track(
                    id=spotify_id("track", f"{self.listener.id}:{index}:{name}"),
                    name=name,
                    artists=featured,
                    album=album,
                    duration_ms=self.rng.randint(95_000, 420_000),
                    explicit=self.rng.random() < 0.2,
                    popularity=self.rng.randint(0, 100),
                )
            )
        return tracks

    def ranked(self, pool: list, size: int, time_range: str) -> list:
        if time_range == "medium_term":
            return pool[:size]
        rng = random.Random(f"fakespotify:{self.listener.id}:{time_range}")
        return rng.sample(pool, size)

    def playlists(self, count: int, names: tuple[str, ...] = ()) -> list[Playlist]:
        styles = ("mosaic", "custom", "mosaic", "empty", "null", "mosaic")
        result = []
        for index in range(count):
            if index < len(names):
                name = names[index]
            else:
                name = f"{self.rng.choice(_TRACK_WORDS)} {self.rng.choice(_TRACK_WORDS)} mix"
            owner_id, owner_name = self.listener.id, self.listener.display_name
            if index % 7 == 3:
                owner_id, owner_name = "spotify", "Spotify"
            elif index % 7 == 5:
                owner_id, owner_name = f"friend-of-{self.listener.id}", None
            playlist_id = spotify_id("playlist", f"{self.listener.id}:{index}:{name}")
            self.label("playlist", playlist_id, name)
            result.append(
                Playlist(
                    id=playlist_id,
                    name=name,
                    description=(None, "", f"Songs for {name.lower()}")[index % 3],
                    owner_id=owner_id,
                    owner_name=owner_name,
                    public=(True, False, None)[index % 3],
                    collaborative=index % 9 == 4,
                    total=self.rng.randint(0, 400),
                    image_style=styles[index % len(styles)],
                )
            )
        return result

    def plays(self, tracks: list[Track], count: int) -> list[Play]:
        contexts: list[tuple[str, str] | None] = [None]
        contexts += [("playlist", p.id) for p in self.listener.playlists[:3]]
        plays = []
        seconds_ago = 12 * 60 + self.rng.randint(0, 50)
        for _ in range(count):
            track = self.rng.choice(tracks)
            context = self.rng.choice([*contexts, ("album", "album"), ("artist", "artist")])
            if context == ("album", "album") and track.album:
                context = ("album", track.album.id)
            elif context == ("artist", "artist"):
                context = ("artist", track.artists[0].id)
            elif context == ("album", "album"):
                context = None
            plays.append(Play(track, seconds_ago, self.rng.randint(0, 999), context))
            # Mostly back-to-back listening, sometimes a break of a few hours.
            seconds_ago += track.duration_ms // 1000 + self.rng.randint(5, 60)
            if self.rng.random() < 0.1:
                seconds_ago += self.rng.randint(1, 9) * 3600
        return plays


def local_track(artist_name: str, name: str, duration_ms: int) -> Track:
    """A track from the listener's own files: no id, no album art, no links."""
    local_artist = Artist(id="", name=artist_name, genres=(), popularity=0, followers=0)
    return Track(
        id=None,
        name=name,
        artists=(local_artist,),
        album=None,
        duration_ms=duration_ms,
        explicit=False,
        popularity=0,
        is_local=True,
    )


def build_listener(
    listener_id: str,
    display_name: str | None,
    *,
    heads: tuple[str, ...] = (),
    track_names: tuple[str, ...] = (),
    playlist_count: int = 8,
    playlist_names: tuple[str, ...] = (),
    play_count: int = 60,
    legacy: bool = False,
    allowed: bool = True,
    has_avatar: bool = True,
    null_entries: bool = False,
    local_in_top: bool = False,
    local_in_plays: bool = False,
) -> Listener:
    """Build a deterministic listener; the keyword arguments switch on quirks."""
    listener = Listener(
        id=listener_id,
        display_name=display_name,
        has_avatar=has_avatar,
        legacy=legacy,
        allowed=allowed,
    )
    builder = _Builder(listener, heads=heads, track_names=track_names)
    if has_avatar:
        builder.label("user", spotify_id("user", listener_id), display_name or listener_id)
    artists = builder.artist_pool(70)
    tracks = builder.track_pool(artists, 90)
    local = local_track("Garage Demos", "Untitled Voice Memo 3", 187_000)
    for time_range in TIME_RANGES:
        top_tracks: list[Track | None] = builder.ranked(tracks, 60, time_range)
        top_artists: list[Artist | None] = builder.ranked(artists, 55, time_range)
        if local_in_top:
            top_tracks.insert(5, local)
        if null_entries:
            # Spotify sends null for items it can no longer resolve.
            top_tracks.insert(3, None)
            top_artists.insert(7, None)
        listener.top_tracks[time_range] = top_tracks
        listener.top_artists[time_range] = top_artists
    listener.playlists = builder.playlists(playlist_count, playlist_names)
    listener.plays = builder.plays(tracks, play_count)
    if local_in_plays and listener.plays:
        first = listener.plays[1]
        listener.plays[1] = Play(local, first.seconds_ago, first.millis, None)
    return listener


def demo_listeners() -> list[Listener]:
    """The fixed demo listeners (see the module docstring)."""
    return [
        build_listener(
            "alice",
            "Alice Liddell",
            heads=("Velvet Orchard", "Paper Lanterns", "Amber Foxes"),
            track_names=("Tea at Four", "Down the Rabbit Hole", "Looking Glass"),
            playlist_count=7,
            playlist_names=("Morning Coffee", "Rainy Sundays", "Road Trip 2026"),
            local_in_plays=True,
        ),
        build_listener(
            "bob",
            "Bob Builder",
            heads=("Brass Harbour", "Northern Engines", "Rusty Pilots"),
            track_names=("Can We Fix It", "Concrete Mixer Blues", "Scaffold"),
            playlist_count=3,
            playlist_names=("Workshop", "Gym", "Chill"),
        ),
        build_listener(
            "carol",
            "Carol Danvers",
            heads=("Copper Tide", "Electric Comets", "Silver Sirens"),
            track_names=("Higher Further Faster", "Binary", "Photon"),
            playlist_count=23,
            null_entries=True,
            local_in_top=True,
            local_in_plays=True,
        ),
        build_listener(
            "legacy",
            "Lena Legacy",
            heads=("Golden Saints", "Ivory Wolves"),
            playlist_count=5,
            legacy=True,
        ),
        build_listener("nameless", None, has_avatar=False, playlist_count=0, play_count=0),
        build_listener(
            "unicode",
            "Zoë 🎧 Ångström 坂本",
            heads=_UNICODE_ARTISTS,
            track_names=_UNICODE_TRACKS,
            playlist_count=6,
            playlist_names=("Música para 🌧️ días", "日本の夏", "Песни для души", "Ñoño"),
            null_entries=True,
        ),
        build_listener(
            "html",
            '<script>alert("x")</script>',
            heads=_HTML_ARTISTS,
            track_names=_HTML_TRACKS,
            playlist_count=6,
            playlist_names=(
                '<b>bold</b> & "quotes"',
                "</title><script>alert(1)</script>",
                "<img src=x onerror=alert(1)>",
            ),
            null_entries=True,
        ),
        build_listener(
            "collector",
            "Connie Collector",
            heads=("Marble Vessels",),
            playlist_count=120,
        ),
        build_listener(
            "stranger",
            "Sam Stranger",
            heads=("Hidden Ghosts",),
            playlist_count=2,
            allowed=False,
        ),
    ]


def generated_listener(listener_id: str) -> Listener:
    """An ordinary listener for load tests (``listener-0001`` ...)."""
    number = listener_id.rsplit("-", 1)[-1]
    rng = random.Random(f"fakespotify:count:{listener_id}")
    return build_listener(listener_id, f"Listener {number}", playlist_count=rng.randint(0, 30))


# --- rendering ---------------------------------------------------------------


def _images(base_url: str, kind: str, item_id: str, sizes, *, sized=True) -> list[dict]:
    return [
        {
            "url": f"{base_url}/images/{kind}-{item_id}-{size}.svg",
            "height": size if sized else None,
            "width": size if sized else None,
        }
        for size in sizes
    ]


def _links(api: str, kind: str, item_id: str) -> dict:
    return {
        "external_urls": {"spotify": f"{OPEN_URL}/{kind}/{item_id}"},
        "href": f"{api}/{kind}s/{item_id}",
        "id": item_id,
        "type": kind,
        "uri": f"spotify:{kind}:{item_id}",
    }


def render_profile(listener: Listener, base_url: str) -> dict:
    """``GET /v1/me``: a PrivateUserObject (Development Mode unless legacy)."""
    api = f"{base_url}/v1"
    user_id = spotify_id("user", listener.id)
    body = {
        "account_id": listener.account_id,
        "display_name": listener.display_name,
        "external_urls": {"spotify": f"{OPEN_URL}/user/{listener.id}"},
        "href": f"{api}/users/{listener.id}",
        "id": listener.id,
        "images": (_images(base_url, "user", user_id, AVATAR_SIZES) if listener.has_avatar else []),
        "type": "user",
        "uri": f"spotify:user:{listener.id}",
    }
    if listener.legacy:
        body |= {
            "country": "NZ",
            "email": f"{listener.id}@example.com",
            "explicit_content": {"filter_enabled": False, "filter_locked": False},
            "followers": {"href": None, "total": 42},
            "product": "premium",
        }
    return body


def render_simple_artist(artist: Artist, base_url: str) -> dict:
    if not artist.id:  # an artist of a local file
        return {
            "external_urls": {},
            "href": None,
            "id": None,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{quote_plus(artist.name)}",
        }
    return {**_links(f"{base_url}/v1", "artist", artist.id), "name": artist.name}


def render_artist(artist: Artist | None, base_url: str, *, legacy: bool) -> dict | None:
    """An ArtistObject; genres/popularity/followers only for extended quota."""
    if artist is None:
        return None
    body = render_simple_artist(artist, base_url)
    body["images"] = _images(base_url, "artist", artist.id, ALBUM_SIZES)
    if legacy:
        body["followers"] = {"href": None, "total": artist.followers}
        body["genres"] = list(artist.genres)
        body["popularity"] = artist.popularity
    return body


def _render_album(album: Album | None, base_url: str) -> dict:
    if album is None:  # local files have an empty album
        return {
            "album_type": None,
            "artists": [],
            "available_markets": [],
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": "",
            "release_date": None,
            "release_date_precision": None,
            "total_tracks": 0,
            "type": "album",
            "uri": None,
        }
    return {
        **_links(f"{base_url}/v1", "album", album.id),
        "album_type": album.album_type,
        "artists": [render_simple_artist(a, base_url) for a in album.artists],
        "available_markets": [],
        "images": _images(base_url, "album", album.id, ALBUM_SIZES),
        "is_playable": True,
        "name": album.name,
        "release_date": album.release_date,
        "release_date_precision": album.release_date_precision,
        "total_tracks": album.total_tracks,
    }


def render_track(track: Track | None, base_url: str, *, legacy: bool) -> dict | None:
    """A TrackObject; popularity only for extended quota; local files mostly empty."""
    if track is None:
        return None
    common = {
        "album": _render_album(track.album, base_url),
        "artists": [render_simple_artist(a, base_url) for a in track.artists],
        "available_markets": [],
        "duration_ms": track.duration_ms,
        "explicit": track.explicit,
        "is_local": track.is_local,
        "name": track.name,
        "preview_url": None,
    }
    if track.is_local:
        artist = quote_plus(track.artists[0].name)
        return common | {
            "disc_number": 0,
            "external_ids": {},
            "external_urls": {},
            "href": None,
            "id": None,
            "popularity": 0,
            "track_number": 0,
            "type": "track",
            "uri": f"spotify:local:{artist}::{quote_plus(track.name)}:{track.duration_ms // 1000}",
        }
    body = common | _links(f"{base_url}/v1", "track", track.id)
    body |= {
        "disc_number": 1,
        "external_ids": {"isrc": f"XX{track.id[:10].upper()}"},
        "is_playable": True,
        "track_number": 1,
    }
    if legacy:
        body["popularity"] = track.popularity
    return body


def render_playlist(playlist: Playlist, base_url: str, *, legacy: bool) -> dict:
    """A SimplifiedPlaylistObject: ``items`` (2026) or, for legacy, only ``tracks``."""
    api = f"{base_url}/v1"
    images: list[dict] | None
    if playlist.image_style == "mosaic":
        images = _images(base_url, "playlist", playlist.id, MOSAIC_SIZES)
    elif playlist.image_style == "custom":
        images = _images(base_url, "playlist", playlist.id, (640,), sized=False)
    elif playlist.image_style == "empty":
        images = []
    else:
        images = None
    body = {
        **_links(api, "playlist", playlist.id),
        "collaborative": playlist.collaborative,
        "description": playlist.description,
        "images": images,
        "name": playlist.name,
        "owner": {
            "display_name": playlist.owner_name,
            "external_urls": {"spotify": f"{OPEN_URL}/user/{playlist.owner_id}"},
            "href": f"{api}/users/{playlist.owner_id}",
            "id": playlist.owner_id,
            "type": "user",
            "uri": f"spotify:user:{playlist.owner_id}",
        },
        "primary_color": None,
        "public": playlist.public,
        "snapshot_id": spotify_id("snapshot", playlist.id) * 2,
    }
    ref = {"href": f"{api}/playlists/{playlist.id}/items", "total": playlist.total}
    if legacy:
        body["tracks"] = ref | {"href": f"{api}/playlists/{playlist.id}/tracks"}
    else:
        body["items"] = ref
    return body


def played_at(play: Play, anchor: datetime) -> datetime:
    """When ``play`` happened, counting back from ``anchor`` (aware UTC)."""
    moment = anchor - timedelta(seconds=play.seconds_ago)
    return moment.replace(microsecond=play.millis * 1000)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, as Spotify writes ``played_at``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def render_play(play: Play, moment: datetime, base_url: str, *, legacy: bool) -> dict:
    """A PlayHistoryObject; ``context`` is null for some plays."""
    context = None
    if play.context is not None:
        kind, item_id = play.context
        links = _links(f"{base_url}/v1", kind, item_id)
        context = {key: links[key] for key in ("type", "href", "external_urls", "uri")}
    return {
        "context": context,
        "played_at": format_timestamp(moment),
        "track": render_track(play.track, base_url, legacy=legacy),
    }
