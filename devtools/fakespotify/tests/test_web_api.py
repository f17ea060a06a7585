"""The fake's Web API: authentication, shapes, paging, quirks of the demo data."""

import re
from datetime import UTC, datetime, timedelta

import pytest

DEV_MODE_MISSING_FROM_ME = {"email", "country", "product", "followers", "explicit_content"}
ENDPOINTS = [
    "/me",
    "/me/top/tracks",
    "/me/top/artists",
    "/me/playlists",
    "/me/player/recently-played",
]


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return response.json()


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["status"] == status
    return body["error"]["message"]


# --- authentication ----------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_call_without_a_token_is_401_no_token_provided(http, path):
    assert error(http.api(path), 401) == "No token provided"


def test_an_unknown_token_of_ours_has_expired(http):
    assert error(http.api("/me", "fakeAT-from-a-previous-run"), 401) == "The access token expired"


def test_a_token_that_is_not_ours_is_invalid(http):
    assert error(http.api("/me", "garbage"), 401) == "Invalid access token"


def test_expire_access_tokens_makes_the_listeners_tokens_expire(http, alice_token, spotify_login):
    bob = spotify_login("bob")["access_token"]

    http.fake.expire_access_tokens("alice")

    assert error(http.api("/me", alice_token), 401) == "The access token expired"
    assert ok(http.api("/me", bob))["id"] == "bob"


def test_a_token_past_its_lifetime_has_expired():
    import requests

    from devtools.fakespotify.pytest_plugin import login
    from devtools.fakespotify.server import FakeSpotify

    with FakeSpotify(access_token_lifetime=0) as fake, requests.Session() as session:
        token = login(fake, "alice")["access_token"]
        response = session.get(
            f"{fake.api_base_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "The access token expired"


def test_revoke_kills_access_and_refresh_tokens(http, spotify_login):
    tokens = spotify_login("alice")

    http.fake.revoke("alice")

    assert error(http.api("/me", tokens["access_token"]), 401)
    refresh = http.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_listener_off_the_allow_list_gets_403_on_every_call(http, spotify_login, path):
    token = spotify_login("stranger")["access_token"]

    message = error(http.api(path, token), 403)

    assert message == "User not registered in the Developer Dashboard"


def test_set_allowed_moves_a_listener_on_and_off_the_allow_list(http, alice_token):
    http.fake.set_allowed("alice", False)
    assert error(http.api("/me", alice_token), 403)

    http.fake.set_allowed("alice", True)
    assert ok(http.api("/me", alice_token))["id"] == "alice"


def test_an_unknown_endpoint_is_404_in_spotifys_shape(http, alice_token):
    assert error(http.api("/me/shows", alice_token), 404) == "Service not found"


# --- /me ---------------------------------------------------------------------


def test_me_in_development_mode_lacks_the_removed_fields(http, alice_token):
    me = ok(http.api("/me", alice_token))

    assert not DEV_MODE_MISSING_FROM_ME & set(me)
    assert me["id"] == "alice"
    assert me["display_name"] == "Alice Liddell"
    assert me["type"] == "user"
    assert me["uri"] == "spotify:user:alice"
    assert me["account_id"]
    assert me["external_urls"]["spotify"] == "https://open.spotify.com/user/alice"
    assert me["href"] == f"{http.fake.api_base_url}/users/alice"
    assert {(image["width"], image["height"]) for image in me["images"]} == {(300, 300), (64, 64)}


def test_me_of_the_legacy_listener_has_the_extended_quota_fields(http, spotify_login):
    me = ok(http.api("/me", spotify_login("legacy")["access_token"]))

    assert set(me) >= DEV_MODE_MISSING_FROM_ME
    assert me["email"] == "legacy@example.com"
    assert me["followers"]["total"] == 42


def test_me_of_the_nameless_listener_has_null_name_and_no_images(http, spotify_login):
    me = ok(http.api("/me", spotify_login("nameless")["access_token"]))

    assert me["display_name"] is None
    assert me["images"] == []


# --- top items ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tracks", "artists"])
def test_top_items_default_to_medium_term_and_twenty(http, alice_token, kind):
    page = ok(http.api(f"/me/top/{kind}", alice_token))
    explicit = ok(http.api(f"/me/top/{kind}", alice_token, time_range="medium_term", limit=20))

    assert set(page) == {"href", "items", "limit", "next", "offset", "previous", "total"}
    assert page["limit"] == 20
    assert len(page["items"]) == 20
    assert page["items"] == explicit["items"]


@pytest.mark.parametrize("kind", ["tracks", "artists"])
def test_top_items_fill_a_page_of_fifty_and_link_the_next_page(http, alice_token, kind):
    page = ok(http.api(f"/me/top/{kind}", alice_token, limit=50))

    assert len(page["items"]) == 50
    assert page["total"] > 50
    assert page["previous"] is None
    assert page["next"] == (
        f"{http.fake.api_base_url}/me/top/{kind}?offset=50&limit=50&time_range=medium_term"
    )
    rest = ok(http.session.get(page["next"], headers={"Authorization": f"Bearer {alice_token}"}))
    assert rest["offset"] == 50
    assert len(rest["items"]) == page["total"] - 50
    assert rest["next"] is None
    assert rest["previous"].endswith("offset=0&limit=50&time_range=medium_term")


@pytest.mark.parametrize("kind", ["tracks", "artists"])
def test_each_time_range_has_different_top_items(http, alice_token, kind):
    ranges = ("short_term", "medium_term", "long_term")
    firsts = {
        time_range: [
            item["id"]
            for item in ok(http.api(f"/me/top/{kind}", alice_token, time_range=time_range))["items"]
        ]
        for time_range in ranges
    }

    assert len({tuple(ids) for ids in firsts.values()}) == 3


def test_listeners_have_their_own_top_artists(http, alice_token, spotify_login):
    bob = spotify_login("bob")["access_token"]

    alice_top = ok(http.api("/me/top/artists", alice_token, limit=1))["items"][0]["name"]
    bob_top = ok(http.api("/me/top/artists", bob, limit=1))["items"][0]["name"]

    assert alice_top == "Velvet Orchard"
    assert bob_top == "Brass Harbour"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"time_range": "forever"}, "Invalid time range"),
        ({"limit": 0}, "Invalid limit"),
        ({"limit": 51}, "Invalid limit"),
        ({"limit": "ten"}, "Invalid limit"),
        ({"offset": -1}, "Invalid offset"),
    ],
)
def test_bad_top_item_parameters_are_400(http, alice_token, params, message):
    assert error(http.api("/me/top/tracks", alice_token, **params), 400) == message


def test_tracks_have_spotifys_shape_without_popularity_in_development_mode(http, alice_token):
    track = ok(http.api("/me/top/tracks", alice_token, limit=1))["items"][0]

    assert "popularity" not in track
    assert track["type"] == "track"
    assert track["is_local"] is False
    assert track["uri"] == f"spotify:track:{track['id']}"
    assert track["external_urls"]["spotify"].startswith("https://open.spotify.com/track/")
    assert isinstance(track["duration_ms"], int)
    assert isinstance(track["explicit"], bool)
    assert track["artists"][0]["name"] == "Velvet Orchard"
    album = track["album"]
    assert {"album_type", "images", "external_urls", "release_date", "name", "id"} <= set(album)
    assert [image["width"] for image in album["images"]] == [640, 300, 64]
    assert all(
        image["url"].startswith(http.fake.base_url + "/images/") for image in album["images"]
    )


def test_artists_in_development_mode_lack_genres_popularity_and_followers(http, alice_token):
    artist = ok(http.api("/me/top/artists", alice_token, limit=1))["items"][0]

    assert not {"genres", "popularity", "followers"} & set(artist)
    assert artist["type"] == "artist"
    assert len(artist["images"]) == 3


def test_the_legacy_listener_gets_genres_popularity_and_followers(http, spotify_login):
    token = spotify_login("legacy")["access_token"]

    artist = ok(http.api("/me/top/artists", token, limit=1))["items"][0]
    track = ok(http.api("/me/top/tracks", token, limit=1))["items"][0]

    assert isinstance(artist["genres"], list)
    assert isinstance(artist["popularity"], int)
    assert isinstance(artist["followers"]["total"], int)
    assert isinstance(track["popularity"], int)


def test_some_listeners_lists_contain_null_entries_and_local_tracks(http, spotify_login):
    token = spotify_login("carol")["access_token"]

    tracks = ok(http.api("/me/top/tracks", token, limit=10))["items"]
    artists = ok(http.api("/me/top/artists", token, limit=10))["items"]

    assert None in tracks
    assert None in artists
    local = next(track for track in tracks if track and track["is_local"])
    assert local["id"] is None
    assert local["album"]["images"] == []
    assert local["external_urls"] == {}
    assert local["uri"].startswith("spotify:local:")


# --- playlists ---------------------------------------------------------------


def test_playlists_follow_next_through_all_120_of_the_collector(http, spotify_login):
    token = spotify_login("collector")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    page = ok(http.api("/me/playlists", token, limit=50))
    seen = list(page["items"])
    while page["next"]:
        page = ok(http.session.get(page["next"], headers=headers, timeout=10))
        seen += page["items"]

    assert page["total"] == 120
    assert len(seen) == 120
    assert len({playlist["id"] for playlist in seen}) == 120
    assert page["previous"] == f"{http.fake.api_base_url}/me/playlists?offset=50&limit=50"


def test_playlists_default_to_twenty_and_reject_bad_limits(http, spotify_login):
    token = spotify_login("collector")["access_token"]

    assert len(ok(http.api("/me/playlists", token))["items"]) == 20
    assert error(http.api("/me/playlists", token, limit=51), 400) == "Invalid limit"
    assert error(http.api("/me/playlists", token, offset="x"), 400) == "Invalid offset"


def test_playlists_in_2026_have_items_and_no_tracks_and_vary_in_images(http, spotify_login):
    token = spotify_login("carol")["access_token"]

    playlists = ok(http.api("/me/playlists", token, limit=50))["items"]

    assert all("tracks" not in playlist for playlist in playlists)
    assert all(set(playlist["items"]) == {"href", "total"} for playlist in playlists)
    images = [playlist["images"] for playlist in playlists]
    assert None in images
    assert [] in images
    assert any(image and image[0]["width"] is None for image in images)  # custom covers
    assert {playlist["public"] for playlist in playlists} == {True, False, None}
    assert None in {playlist["owner"]["display_name"] for playlist in playlists}
    assert all(playlist["snapshot_id"] for playlist in playlists)


def test_legacy_playlists_only_have_the_deprecated_tracks_total(http, spotify_login):
    token = spotify_login("legacy")["access_token"]

    playlists = ok(http.api("/me/playlists", token))["items"]

    assert playlists
    assert all("items" not in playlist for playlist in playlists)
    assert all(isinstance(playlist["tracks"]["total"], int) for playlist in playlists)


def test_the_nameless_listener_has_no_playlists(http, spotify_login):
    page = ok(http.api("/me/playlists", spotify_login("nameless")["access_token"]))

    assert page["items"] == []
    assert page["total"] == 0
    assert page["next"] is None


# --- recently played ---------------------------------------------------------

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def parse_played_at(value: str) -> datetime:
    assert ISO_MILLIS.match(value), value
    return datetime.fromisoformat(value)


def test_recently_played_is_cursor_paged_newest_first_and_recent(http, alice_token):
    page = ok(http.api("/me/player/recently-played", alice_token, limit=50))

    assert {"href", "items", "limit", "next", "cursors"} <= set(page)
    assert len(page["items"]) == 50
    moments = [parse_played_at(item["played_at"]) for item in page["items"]]
    assert moments == sorted(moments, reverse=True)
    assert datetime.now(UTC) - moments[0] < timedelta(hours=1)
    assert int(page["cursors"]["before"]) < int(page["cursors"]["after"])
    assert f"before={page['cursors']['before']}" in page["next"]
    contexts = [item["context"] for item in page["items"]]
    assert None in contexts
    assert {"type", "href", "external_urls", "uri"} == set(next(c for c in contexts if c))


def test_recently_played_pages_backwards_with_before(http, alice_token):
    first = ok(http.api("/me/player/recently-played", alice_token, limit=5))

    older = ok(
        http.api(
            "/me/player/recently-played", alice_token, limit=5, before=first["cursors"]["before"]
        )
    )

    oldest_first_page = parse_played_at(first["items"][-1]["played_at"])
    assert all(parse_played_at(i["played_at"]) < oldest_first_page for i in older["items"])
    assert len(older["items"]) == 5


def test_recently_played_after_returns_only_newer_plays(http, alice_token):
    everything = ok(http.api("/me/player/recently-played", alice_token, limit=10))
    cursor = int(everything["cursors"]["before"])

    newer = ok(http.api("/me/player/recently-played", alice_token, limit=50, after=cursor))

    assert [item["played_at"] for item in newer["items"]] == [
        item["played_at"] for item in everything["items"][:-1]
    ]


def test_recently_played_rejects_before_and_after_together(http, alice_token):
    response = http.api("/me/player/recently-played", alice_token, before=1, after=1)

    assert error(response, 400)


def test_recently_played_is_empty_for_the_nameless_listener(http, spotify_login):
    page = ok(http.api("/me/player/recently-played", spotify_login("nameless")["access_token"]))

    assert page["items"] == []
    assert page["next"] is None


def test_alices_recently_played_contains_a_local_track(http, alice_token):
    items = ok(http.api("/me/player/recently-played", alice_token, limit=5))["items"]

    assert any(item["track"]["is_local"] for item in items)


# --- images ------------------------------------------------------------------


def test_every_image_url_is_served_as_a_cacheable_svg(http, alice_token):
    me = ok(http.api("/me", alice_token))
    track = ok(http.api("/me/top/tracks", alice_token, limit=1))["items"][0]

    for image in me["images"] + track["album"]["images"]:
        response = http.session.get(image["url"], timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert "max-age" in response.headers["Cache-Control"]
        assert f'width="{image["width"]}"' in response.text


def test_an_unknown_image_is_404(http):
    assert http.session.get(f"{http.fake.base_url}/images/nope-1-64.svg").status_code == 404
