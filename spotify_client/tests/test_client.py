"""spotify_client against the fake Spotify, over real HTTP."""

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

import spotify_client
from spotify_client import transport


def in_seconds(seconds: float) -> float:
    return time.monotonic() + seconds


# --- endpoints ---------------------------------------------------------------


def test_get_profile_reads_a_development_mode_profile(alice_token):
    profile = spotify_client.get_profile(alice_token)

    assert profile.id == "alice"
    assert profile.display_name == "Alice Liddell"
    assert profile.url == "https://open.spotify.com/user/alice"
    assert profile.image.width == 64


def test_a_profile_without_a_display_name_or_picture_has_none(fake_spotify, spotify_login):
    profile = spotify_client.get_profile(spotify_login("nameless")["access_token"])

    assert profile.id == "nameless"
    assert profile.display_name is None
    assert profile.image is None


def test_get_top_tracks_returns_a_page_of_tracks(alice_token):
    page = spotify_client.get_top_tracks(alice_token, time_range="short_term", limit=50)

    assert len(page.items) == 50
    assert page.total == 60
    track = page.items[0]
    assert track.id and track.name and track.url
    assert track.artists[0].name
    assert track.album.image.width == 64
    assert track.popularity is None  # Development Mode


def test_get_top_tracks_differs_by_time_range(alice_token):
    short = spotify_client.get_top_tracks(alice_token, time_range="short_term", limit=10)
    long = spotify_client.get_top_tracks(alice_token, time_range="long_term", limit=10)

    assert [t.id for t in short.items] != [t.id for t in long.items]


def test_get_top_artists_returns_alices_favourite_first(alice_token):
    page = spotify_client.get_top_artists(alice_token, limit=5)

    assert page.items[0].name == "Velvet Orchard"
    assert page.items[0].genres == ()
    assert page.items[0].popularity is None


def test_top_items_page_by_offset(alice_token):
    rest = spotify_client.get_top_artists(alice_token, limit=50, offset=50)

    assert len(rest.items) == 5
    assert rest.total == 55


@pytest.mark.parametrize(
    "kwargs",
    [{"time_range": "forever"}, {"limit": 0}, {"limit": 51}, {"offset": -1}],
)
def test_bad_arguments_are_refused_before_calling_spotify(fake_spotify, kwargs):
    with pytest.raises(ValueError):
        spotify_client.get_top_tracks("fakeAT-unused", **kwargs)

    assert fake_spotify.calls() == 0


def test_get_playlists_page_reads_one_page(fake_spotify, spotify_login):
    token = spotify_login("collector")["access_token"]

    page = spotify_client.get_playlists_page(token, limit=50, offset=100)

    assert page.total == 120
    assert len(page.items) == 20


def test_get_recently_played_returns_recent_plays_newest_first(alice_token):
    recent = spotify_client.get_recently_played(alice_token, limit=50)

    assert len(recent.items) == 50
    moments = [play.played_at for play in recent.items]
    assert moments == sorted(moments, reverse=True)
    assert moments[0].tzinfo is UTC
    assert datetime.now(UTC) - moments[0] < timedelta(hours=1)
    assert any(play.track.is_local for play in recent.items)


def test_get_recently_played_pages_back_with_before(alice_token):
    first = spotify_client.get_recently_played(alice_token, limit=10)

    older = spotify_client.get_recently_played(
        alice_token, limit=10, before=first.items[-1].played_at
    )

    assert older.items[0].played_at < first.items[-1].played_at


def test_get_recently_played_accepts_an_aware_datetime(alice_token):
    recent = spotify_client.get_recently_played(
        alice_token, after=datetime.now(UTC) - timedelta(days=365)
    )

    assert recent.items


def test_get_recently_played_refuses_before_and_after_together(fake_spotify):
    with pytest.raises(ValueError):
        spotify_client.get_recently_played("fakeAT-unused", before=1, after=2)


# --- domain errors -----------------------------------------------------------


def test_an_expired_access_token_raises_token_expired(fake_spotify, alice_token):
    fake_spotify.expire_access_tokens("alice")

    with pytest.raises(spotify_client.TokenExpired) as raised:
        spotify_client.get_profile(alice_token)

    assert raised.value.status == 401


def test_a_listener_off_the_allow_list_raises_not_on_allow_list(fake_spotify, spotify_login):
    token = spotify_login("stranger")["access_token"]

    with pytest.raises(spotify_client.NotOnAllowList):
        spotify_client.get_top_tracks(token)


def test_a_429_without_a_deadline_raises_rate_limited_at_once(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me/top/tracks", status=429, retry_after=1)

    with pytest.raises(spotify_client.RateLimited) as raised:
        spotify_client.get_top_tracks(alice_token)

    assert raised.value.retry_after == 1
    assert fake_spotify.calls("/v1/me/top/tracks") == 1


def test_a_429_whose_retry_after_fits_the_deadline_is_retried_once(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me/top/tracks", status=429, retry_after=1)

    page = spotify_client.get_top_tracks(alice_token, deadline=in_seconds(10))

    assert page.items
    assert fake_spotify.calls("/v1/me/top/tracks") == 2


def test_a_429_whose_retry_after_outlasts_the_deadline_is_not_waited_for(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me/top/tracks", status=429, retry_after=30)

    with pytest.raises(spotify_client.RateLimited) as raised:
        spotify_client.get_top_tracks(alice_token, deadline=in_seconds(5))

    assert raised.value.retry_after == 30
    assert fake_spotify.calls("/v1/me/top/tracks") == 1


def test_a_second_429_is_not_retried_again(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me", n=2, status=429, retry_after=0)

    with pytest.raises(spotify_client.RateLimited):
        spotify_client.get_profile(alice_token, deadline=in_seconds(10))

    assert fake_spotify.calls("/v1/me") == 2


def test_a_quota_429_without_retry_after_carries_the_reason(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me", status=429, reason="QUOTA_EXCEEDED")

    with pytest.raises(spotify_client.RateLimited) as raised:
        spotify_client.get_profile(alice_token, deadline=in_seconds(10))

    assert raised.value.retry_after is None
    assert raised.value.reason == "QUOTA_EXCEEDED"


def test_a_500_is_retried_once_and_then_succeeds(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me/playlists", status=500)

    page = spotify_client.get_playlists_page(alice_token)

    assert page.items
    assert fake_spotify.calls("/v1/me/playlists") == 2


def test_two_503s_raise_spotify_unavailable(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me/playlists", n=2, status=503)

    with pytest.raises(spotify_client.SpotifyUnavailable) as raised:
        spotify_client.get_playlists_page(alice_token)

    assert raised.value.status == 503
    assert fake_spotify.calls("/v1/me/playlists") == 2


def test_a_5xx_is_not_retried_when_the_deadline_leaves_no_room(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me", n=2, status=502)

    with pytest.raises(spotify_client.SpotifyUnavailable):
        spotify_client.get_profile(alice_token, deadline=in_seconds(0.3))

    assert fake_spotify.calls("/v1/me") == 1


def test_a_passed_deadline_raises_without_calling_spotify(fake_spotify, alice_token):
    with pytest.raises(spotify_client.SpotifyUnavailable):
        spotify_client.get_profile(alice_token, deadline=time.monotonic() - 1)

    assert fake_spotify.calls("/v1/me") == 0


def test_malformed_json_raises_bad_response(fake_spotify, alice_token):
    fake_spotify.malformed_next("/v1/me/top/artists")

    with pytest.raises(spotify_client.BadResponse):
        spotify_client.get_top_artists(alice_token)

    assert fake_spotify.calls("/v1/me/top/artists") == 1


def test_another_4xx_raises_bad_response_without_retry(fake_spotify, alice_token):
    fake_spotify.fail_next("/v1/me", status=404)

    with pytest.raises(spotify_client.BadResponse) as raised:
        spotify_client.get_profile(alice_token)

    assert raised.value.status == 404
    assert fake_spotify.calls("/v1/me") == 1


def test_a_hanging_spotify_gives_up_within_the_read_timeout(fake_spotify, alice_token, monkeypatch):
    monkeypatch.setattr(transport, "READ_TIMEOUT", 0.2)
    fake_spotify.hang_next("/v1/me/top/tracks", n=2, seconds=30)

    with pytest.raises(spotify_client.SpotifyUnavailable):
        spotify_client.get_top_tracks(alice_token)

    assert fake_spotify.calls("/v1/me/top/tracks") == 2  # tried, retried once


def test_an_unreachable_spotify_raises_spotify_unavailable(fake_spotify, settings):
    settings.SPOTIFY_API_BASE_URL = "http://127.0.0.1:9/v1"  # the discard port: refused

    with pytest.raises(spotify_client.SpotifyUnavailable):
        spotify_client.get_profile("fakeAT-unused")


def test_every_domain_error_is_a_spotify_error():
    for error in (
        spotify_client.TokenExpired,
        spotify_client.NotOnAllowList,
        spotify_client.RateLimited,
        spotify_client.SpotifyUnavailable,
        spotify_client.BadResponse,
        spotify_client.TokenRevoked,
        spotify_client.TokenEndpointError,
    ):
        assert issubclass(error, spotify_client.SpotifyError)


# --- refreshing --------------------------------------------------------------


def test_refresh_with_rotation_returns_a_new_refresh_token(fake_spotify, spotify_login):
    old = spotify_login("alice")["refresh_token"]

    grant = spotify_client.refresh_access_token(old)

    assert grant.access_token.startswith("fakeAT-")
    assert grant.refresh_token.startswith("fakeRT-")
    assert grant.refresh_token != old
    assert grant.expires_in == 3600
    assert spotify_client.get_profile(grant.access_token).id == "alice"
    with pytest.raises(spotify_client.TokenRevoked):
        spotify_client.refresh_access_token(old)


def test_refresh_without_rotation_keeps_the_old_refresh_token(fake_spotify, spotify_login):
    fake_spotify.set_rotation(False)
    old = spotify_login("alice")["refresh_token"]

    first = spotify_client.refresh_access_token(old)
    second = spotify_client.refresh_access_token(old)

    assert first.refresh_token is None
    assert second.access_token != first.access_token


def test_a_revoked_refresh_token_raises_token_revoked(fake_spotify, spotify_login):
    old = spotify_login("bob")["refresh_token"]
    fake_spotify.revoke("bob")
    fake_spotify.reset_counters()

    with pytest.raises(spotify_client.TokenRevoked):
        spotify_client.refresh_access_token(old)

    assert fake_spotify.calls("/api/token", "bob") == 1  # never retried


def test_wrong_client_credentials_raise_token_endpoint_error(fake_spotify, spotify_login, settings):
    old = spotify_login("bob")["refresh_token"]
    settings.SPOTIFY_CLIENT_SECRET = "not-the-secret"

    with pytest.raises(spotify_client.TokenEndpointError) as raised:
        spotify_client.refresh_access_token(old)

    assert "invalid_client" in str(raised.value)


def test_a_failing_token_endpoint_is_not_retried(fake_spotify, spotify_login):
    old = spotify_login("bob")["refresh_token"]
    fake_spotify.fail_next("/api/token", status=500)
    fake_spotify.reset_counters()

    with pytest.raises(spotify_client.SpotifyUnavailable):
        spotify_client.refresh_access_token(old)

    # Spotify may have rotated the token before failing: a blind retry could
    # turn a hiccup into a logout.
    assert fake_spotify.calls("/api/token") == 1


def test_tokens_appear_in_neither_logs_nor_reprs(fake_spotify, spotify_login, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = spotify_login("alice")

    grant = spotify_client.refresh_access_token(tokens["refresh_token"])
    spotify_client.get_profile(grant.access_token)
    fake_spotify.fail_next("/v1/me", n=2, status=503)
    with pytest.raises(spotify_client.SpotifyUnavailable):
        spotify_client.get_profile(grant.access_token)

    text = caplog.text + repr(grant)
    assert "Spotify GET /v1/me 200" in caplog.text
    for token in fake_spotify.issued_tokens():
        assert token not in text


def test_rate_limited_takes_retry_after_first():
    error = spotify_client.RateLimited(30, reason="QUOTA_EXCEEDED")

    assert (error.retry_after, error.reason, error.status) == (30, "QUOTA_EXCEEDED", 429)


# --- parsing -----------------------------------------------------------------


CDN = "https://i.scdn.co/image"


def test_choose_image_prefers_the_smallest_at_least_the_wanted_size():
    images = [
        {"url": f"{CDN}/big", "width": 640, "height": 640},
        {"url": f"{CDN}/mid", "width": 300, "height": 300},
        {"url": f"{CDN}/small", "width": 60, "height": 60},
    ]

    assert spotify_client.choose_image(images).url == f"{CDN}/mid"
    assert spotify_client.choose_image(images, min_size=32).url == f"{CDN}/small"
    assert spotify_client.choose_image(images, min_size=1000).url == f"{CDN}/big"


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (None, None),
        ([], None),
        ([{"url": f"{CDN}/custom", "width": None, "height": None}], f"{CDN}/custom"),
        ([{"width": 64}], None),
    ],
)
def test_choose_image_tolerates_null_empty_and_unsized_images(images, expected):
    image = spotify_client.choose_image(images)

    assert (image.url if image else None) == expected


def test_objects_full_of_nulls_still_parse():
    nulls = {
        "id": None,
        "name": None,
        "external_urls": None,
        "images": None,
        "album": None,
        "artists": None,
        "owner": None,
        "items": None,
        "tracks": None,
        "public": None,
        "genres": None,
    }

    track = spotify_client.parse_track(nulls)
    artist = spotify_client.parse_artist(nulls)
    playlist = spotify_client.parse_playlist(nulls)

    assert (track.name, track.album, track.artists, track.is_local) == ("", None, (), False)
    assert (artist.genres, artist.popularity, artist.image) == ((), None, None)
    assert (playlist.track_count, playlist.owner_name, playlist.collaborative) == (
        None,
        None,
        False,
    )
    assert spotify_client.parse_play({"track": None, "played_at": "2026-11-29T10:00:00Z"}) is None


def test_a_profile_without_an_id_is_a_bad_response():
    with pytest.raises(spotify_client.BadResponse):
        spotify_client.parse_profile({"display_name": "Nobody"})


def test_a_page_without_items_is_a_bad_response():
    with pytest.raises(spotify_client.BadResponse):
        spotify_client.parse_page({"total": 3}, spotify_client.parse_track, offset=0)


# --- links and images: only Spotify's ----------------------------------------

HOSTILE_LINKS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "http://open.spotify.com/track/abc",
    "//open.spotify.com/track/abc",
    "/track/abc",
    "https://open.spotify.com.evil.example/track/abc",
    "https://evil.example/?open.spotify.com",
    "https://open.spotify.com@evil.example/track/abc",
    "https://user:pass@open.spotify.com/track/abc",
    "https://open.spotify.com:8443/track/abc",
    "https://open.spotify.com\\@evil.example/",
    " https://open.spotify.com/track/abc",
    "https://open.spotify.com/track/abc\n",
    "https://open.spotify.com",
    "https://accounts.spotify.com/track/abc",
    "",
    42,
    ["https://open.spotify.com/track/abc"],
]

HOSTILE_IMAGES = [
    "javascript:alert(1)",
    "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
    "http://i.scdn.co/image/abc",
    "https://tracker.example/pixel.gif",
    "https://scdn.co/image/abc",
    "https://i.scdn.co.evil.example/image/abc",
    "https://evil.example/i.scdn.co/image/abc",
    "https://evilscdn.co/image/abc",
    "https://user@i.scdn.co/image/abc",
    "https://i.scdn.co:444/image/abc",
    "https://i.scdn.co\\@evil.example/image",
    "https://i_x.scdn.co/image/abc",
    "//i.scdn.co/image/abc",
    "https://127.0.0.1:9/images/user-1-64.svg",
    "",
    None,
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_a_link_that_is_not_open_spotify_com_over_https_is_dropped(link):
    body = {"name": "Song", "external_urls": {"spotify": link}}

    assert spotify_client.parse_track(body).url is None
    assert spotify_client.parse_artist(body).url is None
    assert spotify_client.parse_album(body).url is None
    assert spotify_client.parse_playlist({**body, "owner": body}).owner_url is None
    assert spotify_client.parse_profile({"id": "alice", **body}).url is None


@pytest.mark.parametrize(
    "link",
    [
        "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
        "https://open.spotify.com/user/x?si=1",
    ],
)
def test_an_open_spotify_com_link_is_kept(link):
    assert spotify_client.parse_track({"external_urls": {"spotify": link}}).url == link


@pytest.mark.parametrize("url", HOSTILE_IMAGES)
def test_an_image_that_is_not_on_spotifys_cdn_is_dropped(url):
    images = [{"url": url, "width": 64, "height": 64}]

    assert spotify_client.choose_image(images) is None
    assert spotify_client.parse_profile({"id": "alice", "images": images}).image is None
    assert spotify_client.parse_album({"name": "A", "images": images}).image is None


def test_a_hostile_image_gives_way_to_spotifys_own():
    images = [
        {"url": "https://tracker.example/pixel.gif", "width": 64, "height": 64},
        {"url": "https://mosaic.scdn.co/640/abc", "width": 640, "height": 640},
    ]

    assert spotify_client.choose_image(images).url == "https://mosaic.scdn.co/640/abc"


@pytest.mark.parametrize(
    "url",
    [
        "https://i.scdn.co/image/ab67616d00004851",
        "https://mosaic.scdn.co/640/ab67616d0000b273",
        "https://image-cdn-ak.spotifycdn.com/image/ab67706c0000da84",
        "https://wrapped-images.spotifycdn.com/image/x.jpg",
    ],
)
def test_images_on_spotifys_cdns_are_kept(url):
    assert spotify_client.choose_image([{"url": url, "width": 64}]).url == url


def test_the_configured_fake_spotifys_images_are_kept_and_no_other_origins(settings):
    settings.SPOTIFY_AUTH_BASE_URL = "http://127.0.0.1:8001"
    settings.SPOTIFY_API_BASE_URL = "http://127.0.0.1:8001/v1"
    fake = "http://127.0.0.1:8001/images/user-alice-64.svg"
    other_port = "http://127.0.0.1:8002/images/user-alice-64.svg"

    assert spotify_client.choose_image([{"url": fake}]).url == fake
    assert spotify_client.choose_image([{"url": other_port}]) is None

    settings.SPOTIFY_AUTH_BASE_URL = "https://accounts.spotify.com"
    settings.SPOTIFY_API_BASE_URL = "https://api.spotify.com/v1"
    assert spotify_client.choose_image([{"url": fake}]) is None
