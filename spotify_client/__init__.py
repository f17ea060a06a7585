"""Every call Euterpe makes to Spotify, and nothing else.

A plain package with no models, importing none of Euterpe's apps: one function
per endpoint, each taking the listener's access token as its first argument,
returning small frozen dataclasses and raising the domain errors of
:mod:`spotify_client.errors`; none touches a request, a model or the database.
Settings are read at call time (``SPOTIFY_API_BASE_URL``,
``SPOTIFY_AUTH_BASE_URL``, ``SPOTIFY_CLIENT_ID``, ``SPOTIFY_CLIENT_SECRET``).

- :mod:`~spotify_client.transport`: the pooled session, timeouts that fit a
  ``deadline``, the retry policy, error answers turned into domain errors, and
  how many threads may wait on Spotify at once (``waiting_slot``).
- :mod:`~spotify_client.errors`: the domain errors.
- :mod:`~spotify_client.objects`: the dataclasses and how each is parsed.
- One module per endpoint group: :mod:`~spotify_client.profile`,
  :mod:`~spotify_client.top`, :mod:`~spotify_client.playlists`,
  :mod:`~spotify_client.player` (recently played) and
  :mod:`~spotify_client.tokens` (the accounts service's token refresh).

Callers use what this module exports: ``spotify_client.get_profile(token)``,
``except spotify_client.RateLimited``. Tokens are never logged, and never
shown in a repr.
"""

from spotify_client.errors import (
    BadResponse,
    NotOnAllowList,
    RateLimited,
    SpotifyBusy,
    SpotifyError,
    SpotifyUnavailable,
    TokenEndpointError,
    TokenExpired,
    TokenRevoked,
)
from spotify_client.objects import (
    IMAGE_SIZE,
    Album,
    Artist,
    ArtistRef,
    Image,
    Page,
    Play,
    Playlist,
    Profile,
    RecentlyPlayed,
    TokenGrant,
    Track,
    choose_image,
    parse_album,
    parse_artist,
    parse_artist_ref,
    parse_page,
    parse_play,
    parse_playlist,
    parse_profile,
    parse_recently_played,
    parse_token_grant,
    parse_track,
)
from spotify_client.player import get_recently_played
from spotify_client.playlists import get_playlists_page
from spotify_client.profile import get_profile
from spotify_client.tokens import refresh_access_token
from spotify_client.top import TIME_RANGES, get_top_artists, get_top_tracks
from spotify_client.transport import MAX_LIMIT, waiting_slot, waiting_threads

__all__ = [
    "IMAGE_SIZE",
    "MAX_LIMIT",
    "TIME_RANGES",
    "Album",
    "Artist",
    "ArtistRef",
    "BadResponse",
    "Image",
    "NotOnAllowList",
    "Page",
    "Play",
    "Playlist",
    "Profile",
    "RateLimited",
    "RecentlyPlayed",
    "SpotifyBusy",
    "SpotifyError",
    "SpotifyUnavailable",
    "TokenEndpointError",
    "TokenExpired",
    "TokenGrant",
    "TokenRevoked",
    "Track",
    "choose_image",
    "get_playlists_page",
    "get_profile",
    "get_recently_played",
    "get_top_artists",
    "get_top_tracks",
    "parse_album",
    "parse_artist",
    "parse_artist_ref",
    "parse_page",
    "parse_play",
    "parse_playlist",
    "parse_profile",
    "parse_recently_played",
    "parse_token_grant",
    "parse_track",
    "refresh_access_token",
    "waiting_slot",
    "waiting_threads",
]
