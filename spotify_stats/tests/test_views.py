"""The dashboard page against the fake Spotify over real HTTP: what each listener sees."""

import re

import pytest
from django.test import Client

from spotify_stats import text
from spotify_stats.tests.helpers import (
    failed,
    html_of,
    open_links,
    section,
    shows,
    top_artist_names,
    top_artists,
    top_track_names,
    top_tracks,
)

ORDINARY_LISTENERS = ["alice", "bob", "carol", "unicode", "legacy"]


@pytest.mark.parametrize("listener", ORDINARY_LISTENERS)
def test_the_page_shows_every_section_of_a_listener(get_as, fake_spotify, listener):
    response = get_as(listener)("/")

    assert response.status_code == 200
    html = html_of(response)
    demo = fake_spotify.listener(listener)
    assert shows(html, demo.display_name)
    tracks = section(html, "top-tracks")
    assert shows(tracks, top_track_names(fake_spotify, listener)[0])
    assert shows(tracks, top_track_names(fake_spotify, listener)[-1])
    assert shows(section(html, "top-artists"), top_artist_names(fake_spotify, listener)[0])
    playlists = section(html, "playlists")
    assert sorted(open_links(playlists, "playlist")) == sorted(p.id for p in demo.playlists)
    recent = section(html, "recently-played")
    assert shows(recent, demo.plays[0].track.name)
    assert not any(failed(html, name) for name in ("top-tracks", "top-artists", "playlists"))


@pytest.fixture
def get_as(browser_for):
    """``get_as("alice")("/")``: log the listener in, then GET the path."""

    def make(listener):
        return browser_for(listener).get

    return make


def test_top_lists_have_ranks_durations_and_at_most_fifty_items(get_as, fake_spotify):
    html = html_of(get_as("alice")("/"))

    tracks = section(html, "top-tracks")
    ranks = re.findall(r'<span class="item__rank">(\d+)</span>', tracks)
    expected = len(top_tracks(fake_spotify, "alice"))
    assert 0 < expected <= 50
    assert ranks == [str(n) for n in range(1, expected + 1)]
    first = top_tracks(fake_spotify, "alice")[0]
    seconds = first.duration_ms // 1000
    assert f"{seconds // 60}:{seconds % 60:02d}</span>" in tracks
    assert shows(tracks, first.album.name)
    assert all(shows(tracks, artist.name) for artist in first.artists)


def test_every_item_links_back_to_spotify(get_as, fake_spotify):
    html = html_of(get_as("bob")("/"))

    top = top_tracks(fake_spotify, "bob")
    assert open_links(section(html, "top-tracks"), "track") == [t.id for t in top]
    artists = top_artists(fake_spotify, "bob")
    assert open_links(section(html, "top-artists"), "artist") == [a.id for a in artists]
    assert 'href="https://open.spotify.com/user/bob" rel="noopener">Open your profile' in html
    assert "Data from Spotify" in html


def test_all_playlists_are_shown_past_the_first_page_of_fifty(get_as, fake_spotify):
    html = html_of(get_as("collector")("/"))

    playlists = section(html, "playlists")
    demo = fake_spotify.listener("collector")
    assert len(demo.playlists) == 120
    assert open_links(playlists, "playlist") == [p.id for p in demo.playlists]
    assert "120 playlists" in playlists
    assert fake_spotify.calls(path="/v1/me/playlists", listener="collector") == 3


def test_playlists_show_owner_track_count_and_marks(get_as, fake_spotify):
    html = html_of(get_as("alice")("/"))

    playlists = section(html, "playlists")
    for playlist in fake_spotify.listener("alice").playlists:
        assert shows(playlists, playlist.name)
        if playlist.owner_name:
            assert shows(playlists, playlist.owner_name)
    assert re.search(r"\d+ tracks?</span>", playlists)
    assert "tag--public" in playlists or "tag--collab" in playlists


def test_legacy_playlists_count_tracks_from_the_deprecated_field(get_as, fake_spotify):
    playlists = section(html_of(get_as("legacy")("/")), "playlists")

    for playlist in fake_spotify.listener("legacy").playlists:
        assert f"{playlist.total} track" in playlists


@pytest.mark.parametrize("time_range", ["short_term", "medium_term", "long_term"])
def test_each_time_range_shows_its_own_top_items(get_as, fake_spotify, time_range):
    html = html_of(get_as("alice")(f"/?time_range={time_range}"))

    tracks = section(html, "top-tracks")
    expected = top_track_names(fake_spotify, "alice", time_range)
    shown = re.findall(r'class="item__title"[^>]*>([^<]*)<', tracks)
    assert len(shown) == len(expected)
    assert all(shows(tracks, name) for name in expected[:5])
    assert f'<a href="?time_range={time_range}" aria-current="page">' in html
    assert html.count('aria-current="page"') == 1


def test_the_time_ranges_really_differ(fake_spotify):
    ranges = [top_track_names(fake_spotify, "alice", r)[:10] for r in ("short_term", "long_term")]
    assert ranges[0] != ranges[1]


def test_the_page_defaults_to_the_last_six_months(get_as):
    html = html_of(get_as("alice")("/"))

    assert '<a href="?time_range=medium_term" aria-current="page">' in html


def test_an_unknown_time_range_shows_the_default_one(get_as):
    response = get_as("alice")("/?time_range=forever")

    assert response.status_code == 200
    assert '<a href="?time_range=medium_term" aria-current="page">' in html_of(response)


def test_markup_in_spotify_names_is_escaped_never_raw(get_as, fake_spotify):
    html = html_of(get_as("html")("/"))

    assert "<script" not in html
    assert "<img src=x" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert shows(html, "<img src=x onerror=alert(1)>")
    assert "{{ template }} {% tag %}" in html  # Spotify text is never a template
    assert "<!--ago:" not in html


def test_a_listener_without_name_picture_playlists_or_plays_gets_fallbacks(get_as):
    html = html_of(get_as("nameless")("/"))

    identity = html[html.index('class="identity') : html.index("</section>")]
    assert 'class="avatar avatar--initials avatar--c' in identity
    assert '<h1 class="identity__name">nameless</h1>' in identity
    assert "You have no playlists on Spotify yet." in section(html, "playlists")
    assert "Nothing played recently" in section(html, "recently-played")


def test_development_mode_data_shows_no_genres_or_popularity(get_as):
    html = html_of(get_as("alice")("/"))

    assert "<meter" not in html
    assert "Popularity" not in html
    assert 'class="item__line"' not in section(html, "top-artists")


def test_extended_quota_data_shows_genres_and_popularity(get_as, fake_spotify):
    html = html_of(get_as("legacy")("/"))

    artists = section(html, "top-artists")
    first = next(a for a in fake_spotify.listener("legacy").top_artists["medium_term"] if a)
    assert shows(artists, first.genres[0])
    assert f'<meter min="0" max="100" value="{first.popularity}">' in artists
    assert "<meter" in section(html, "top-tracks")


def test_local_tracks_are_shown_without_a_link(get_as, fake_spotify):
    html = html_of(get_as("carol")("/"))

    local = next(
        t for t in fake_spotify.listener("carol").top_tracks["medium_term"] if t and t.is_local
    )
    tracks = section(html, "top-tracks")
    assert f'<span class="item__title">{local.name}</span>' in tracks
    assert "local file" in tracks


def test_recent_plays_say_how_long_ago_they_were_played(get_as, fake_spotify):
    html = html_of(get_as("alice")("/"))

    recent = section(html, "recently-played")
    ago = re.findall(r'<time datetime="[^"]+" title="[^"]+">played ([^<]+)</time>', recent)
    assert len(ago) == len(fake_spotify.listener("alice").plays[:50])
    assert all(re.fullmatch(r"just now|\d+ (minute|hour|day)s? ago", text) for text in ago)
    first = fake_spotify.listener("alice").plays[0]
    # The fake counts back from when it first answered: a minute may tick meanwhile.
    assert ago[0] in {text.ago(first.seconds_ago), text.ago(first.seconds_ago + 60)}


def test_the_page_says_when_its_data_was_fetched(get_as):
    html = html_of(get_as("alice")("/"))

    assert re.search(r'<time datetime="[^"]+">as of just now</time>', html)
    assert 'action="/refresh"' in html


def test_the_page_is_private_and_never_stored(get_as):
    response = get_as("alice")("/")

    assert "no-store" in response["Cache-Control"]


def test_the_page_offers_logout_and_disconnect_as_forms_and_links(get_as):
    html = html_of(get_as("alice")("/"))

    assert re.search(
        r'<form[^>]+method="post" action="/logout"><input type="hidden" name="csrfmiddlewaretoken"',
        html,
    )
    assert 'href="/disconnect"' in html


def test_an_anonymous_visitor_is_sent_to_login(db):
    response = Client(headers={"X-Forwarded-Proto": "https"}).get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_a_listener_off_the_allow_list_gets_the_explanation(get_as):
    response = get_as("stranger")("/")

    assert response.status_code == 403
    assert "Development Mode" in html_of(response)


def test_a_listener_whose_refresh_token_was_revoked_must_log_in_again(get_as, fake_spotify):
    get = get_as("alice")
    fake_spotify.revoke("alice")

    response = get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login")
