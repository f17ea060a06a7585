"""Contract: every demo listener's every answer parses, and optional means optional.

Each answer is fetched twice: raw (requests) and through the client. The
parsed objects must carry exactly what the raw JSON has, and None (or an empty
tuple) where the JSON lacks a field, so the Development Mode removals are
really exercised.
"""

import pytest
import requests

import spotify_client
from devtools.fakespotify.data import TIME_RANGES, demo_listeners

LISTENERS = [listener.id for listener in demo_listeners() if listener.allowed]

pytestmark = pytest.mark.usefixtures("fake_spotify")


@pytest.fixture
def raw(fake_spotify):
    session = requests.Session()

    def get(token: str, path: str, **params) -> dict:
        response = session.get(
            f"{fake_spotify.api_base_url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            params=params,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    yield get
    session.close()


def spotify_url(body: dict) -> str | None:
    return (body.get("external_urls") or {}).get("spotify")


def assert_track_matches(track: spotify_client.Track, body: dict) -> None:
    assert track.id == body["id"]
    assert track.name == body["name"]
    assert track.url == spotify_url(body)
    assert track.popularity == body.get("popularity")
    assert track.is_local is body["is_local"]
    assert track.duration_ms == body["duration_ms"]
    assert [artist.name for artist in track.artists] == [a["name"] for a in body["artists"]]
    album_images = body["album"]["images"]
    if album_images:
        assert track.album.image.url in {image["url"] for image in album_images}
    else:
        assert track.album.image is None


def assert_artist_matches(artist: spotify_client.Artist, body: dict) -> None:
    assert artist.id == body["id"]
    assert artist.name == body["name"]
    assert artist.genres == tuple(body.get("genres", ()))
    assert artist.popularity == body.get("popularity")
    assert artist.image.width == 64


def assert_playlist_matches(playlist: spotify_client.Playlist, body: dict) -> None:
    assert playlist.id == body["id"]
    assert playlist.name == body["name"]
    count_source = body.get("items") or body.get("tracks")
    assert playlist.track_count == count_source["total"]
    assert playlist.public is body["public"]
    assert playlist.collaborative is body["collaborative"]
    assert playlist.owner_id == body["owner"]["id"]
    assert playlist.owner_name == body["owner"]["display_name"]
    if body["images"]:
        assert playlist.image.url in {image["url"] for image in body["images"]}
    else:
        assert playlist.image is None


@pytest.mark.parametrize("listener", LISTENERS)
def test_the_profile_parses_with_exactly_the_fields_spotify_sent(listener, spotify_login, raw):
    token = spotify_login(listener)["access_token"]

    body = raw(token, "/me")
    profile = spotify_client.get_profile(token)

    assert profile.id == body["id"]
    assert profile.display_name == body["display_name"]
    assert profile.url == spotify_url(body)
    assert (profile.image is None) == (body["images"] == [])


@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("time_range", TIME_RANGES)
def test_top_tracks_and_artists_parse_on_every_page(listener, time_range, spotify_login, raw):
    token = spotify_login(listener)["access_token"]

    for path, fetch, check in (
        ("/me/top/tracks", spotify_client.get_top_tracks, assert_track_matches),
        ("/me/top/artists", spotify_client.get_top_artists, assert_artist_matches),
    ):
        for offset in (0, 50):
            body = raw(token, path, time_range=time_range, limit=50, offset=offset)
            page = fetch(token, time_range=time_range, limit=50, offset=offset)
            present = [item for item in body["items"] if item is not None]
            assert len(page.items) == len(present)  # nulls skipped, nothing else lost
            assert page.total == body["total"]
            for parsed, item in zip(page.items, present, strict=True):
                check(parsed, item)


@pytest.mark.parametrize("listener", LISTENERS)
def test_all_playlists_parse(listener, spotify_login, raw):
    token = spotify_login(listener)["access_token"]

    offset = 0
    while True:
        body = raw(token, "/me/playlists", limit=50, offset=offset)
        page = spotify_client.get_playlists_page(token, limit=50, offset=offset)
        assert page.total == body["total"]
        for parsed, item in zip(page.items, body["items"], strict=True):
            assert_playlist_matches(parsed, item)
        offset += 50
        if body["next"] is None:
            break


@pytest.mark.parametrize("listener", LISTENERS)
def test_recently_played_parses_page_after_page(listener, spotify_login, raw):
    token = spotify_login(listener)["access_token"]

    body = raw(token, "/me/player/recently-played", limit=50)
    recent = spotify_client.get_recently_played(token, limit=50)
    assert len(recent.items) == len(body["items"])
    for play, item in zip(recent.items, body["items"], strict=True):
        assert_track_matches(play.track, item["track"])
        assert (
            play.played_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            == (item["played_at"])
        )
    if recent.items:
        oldest = recent.items[-1].played_at
        older = spotify_client.get_recently_played(token, limit=50, before=oldest)
        assert all(play.played_at < oldest for play in older.items)


def test_development_mode_fields_are_really_missing_for_alice(spotify_login, raw):
    token = spotify_login("alice")["access_token"]

    me = raw(token, "/me")
    artist = raw(token, "/me/top/artists", limit=1)["items"][0]
    track = raw(token, "/me/top/tracks", limit=1)["items"][0]
    playlist = raw(token, "/me/playlists", limit=1)["items"][0]

    assert "email" not in me
    assert "genres" not in artist and "popularity" not in artist
    assert "popularity" not in track
    assert "tracks" not in playlist
    assert spotify_client.get_top_artists(token, limit=1).items[0].genres == ()


def test_the_legacy_listener_fills_the_extended_fields(spotify_login):
    token = spotify_login("legacy")["access_token"]

    profile = spotify_client.get_profile(token)
    artist = spotify_client.get_top_artists(token, limit=1).items[0]
    track = spotify_client.get_top_tracks(token, limit=1).items[0]
    playlists = spotify_client.get_playlists_page(token).items

    assert profile.display_name == "Lena Legacy"
    assert artist.popularity is not None and artist.genres
    assert track.popularity is not None
    assert all(playlist.track_count is not None for playlist in playlists)


def test_local_tracks_and_null_entries_parse(spotify_login):
    token = spotify_login("carol")["access_token"]

    page = spotify_client.get_top_tracks(token, limit=10)

    local = next(track for track in page.items if track.is_local)
    assert local.id is None
    assert local.url is None
    assert local.album.image is None
    assert local.artists[0].id is None
    assert None not in page.items


def test_html_and_unicode_names_arrive_unchanged(spotify_login):
    html_top = spotify_client.get_top_artists(spotify_login("html")["access_token"], limit=5)
    unicode_top = spotify_client.get_top_artists(spotify_login("unicode")["access_token"], limit=5)

    assert '<script>alert("x")</script>' in {artist.name for artist in html_top.items}
    assert {"Björk", "坂本龍一"} <= {artist.name for artist in unicode_top.items}


@pytest.mark.parametrize(
    "call",
    [
        spotify_client.get_profile,
        spotify_client.get_top_tracks,
        spotify_client.get_top_artists,
        spotify_client.get_playlists_page,
        spotify_client.get_recently_played,
    ],
)
def test_a_listener_off_the_allow_list_is_refused_by_every_call(call, spotify_login):
    token = spotify_login("stranger")["access_token"]

    with pytest.raises(spotify_client.NotOnAllowList):
        call(token)
