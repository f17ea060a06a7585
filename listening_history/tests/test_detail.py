"""The artist and track pages (/history/artist/<id>, /history/track/<id>).

Their numbers are checked against the direct computation of test_insights (``expected``)
over the stored rows of that artist or track only, picked in plain Python by the normalised
names; the timeline against a direct bucketing. Names that break naive URLs, other
listeners' links and unknown ids are checked through the real views.
"""

import re
from collections import Counter
from datetime import date, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from listening_history import links
from listening_history.insights import Period
from listening_history.tests.helpers import extended, json_upload, listener, run_import
from listening_history.tests.test_insights import (
    PERIODS,
    TRACK,
    expected,
    generated_history,
    norm,
    stored_rows,
)

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ("plays", "ms_played", "first_play", "last_play", "clock", "tracks", "albums")


@pytest.fixture
def history():
    alice = listener("alice")
    entries, account_entries = generated_history(count=300)
    done = run_import(
        alice,
        json_upload("Streaming_History_Audio_2023-2024.json", entries),
        json_upload("StreamingHistory_music_0.json", account_entries),
    )
    assert done.state == "done", done.errors
    return alice, stored_rows(alice)


def of_artist(rows, key):
    return [r for r in rows if r[2] == TRACK and norm(r[4] or "") == key]


def of_track(rows, track_key, artist_key):
    return [
        r
        for r in rows
        if r[2] == TRACK and r[3] is not None and norm(r[3]) == track_key
        if norm(r[4] or "") == artist_key
    ]


def direct_timeline(rows, tz_name, period):
    """Listening time and plays per bucket, computed entry by entry (zoneinfo)."""
    tz = ZoneInfo(tz_name)
    days = [r[0].astimezone(tz).date() for r in rows]
    if period.start is None:
        if not days:
            return []
        start, end = min(days), max(days)
    else:
        start, end = period.start, period.end
    length = (end - start).days + 1
    unit = "day" if length <= 62 else "week" if length <= 731 else "month"

    def bucket(day):
        if unit == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1) if unit == "month" else day

    ms, plays = Counter(), Counter()
    for row, day in zip(rows, days, strict=True):
        if start <= day <= end:
            ms[bucket(day)] += row[1]
            plays[bucket(day)] += row[1] >= 30_000
    return unit, {day.isoformat(): (ms[day], plays[day]) for day in ms}


def check_numbers(response, rows, tz_name, period, top_key=None):
    assert response.status_code == 200
    data = response.context["data"]
    want = expected(rows, tz_name, period)
    for field in FIELDS:
        assert data[field] == want[field], (field, period)
    if top_key:
        assert data[top_key] == want[top_key], (top_key, period)
    assert data["top_albums"] == want["top_albums"]
    if rows and data["timeline"]["buckets"]:
        unit, buckets = direct_timeline(rows, tz_name, period)
        assert data["timeline"]["unit"] == unit
        found = {
            b["start"]: (b["ms_played"], b["plays"])
            for b in data["timeline"]["buckets"]
            if b["ms_played"] or b["plays"]
        }
        assert found == {k: v for k, v in buckets.items() if v != (0, 0)}
    return data, want


@pytest.mark.parametrize("tz_name", ["UTC", "Europe/Berlin"])
def test_every_artist_page_equals_the_direct_computation(history, client, tz_name):
    alice, rows = history
    client.force_login(alice)
    client.post("/history/time-zone", {"zone": tz_name})
    keys = {norm(r[4]) for r in rows if r[2] == TRACK and r[4] and norm(r[4])}
    assert keys == {"die band", "zoë", "synth kid", "other kid"}
    for key in keys:
        url = links.artist_url(alice.pk, key.upper())
        for period in PERIODS:
            query = {"from": period.start, "to": period.end} if period.start else {}
            mine = of_artist(rows, key)
            data, want = check_numbers(client.get(url, query), mine, tz_name, period, "top_tracks")
            page = client.get(url, query)
            assert data["top_artists"] == want["top_artists"]
            if want["top_artists"]:
                assert page.context["name"] == want["top_artists"][0]["name"]


@pytest.mark.parametrize("tz_name", ["UTC", "America/Argentina/Buenos_Aires"])
def test_every_track_page_equals_the_direct_computation_and_lists_what_merged(
    history, client, tz_name
):
    alice, rows = history
    client.force_login(alice)
    client.post("/history/time-zone", {"zone": tz_name})
    keys = {(norm(r[3]), norm(r[4] or "")) for r in rows if r[2] == TRACK and r[3]}
    assert len(keys) == 4  # "Night Drive" twice, by two artists
    for track_key, artist_key in keys:
        url = links.track_url(alice.pk, track_key, artist_key)
        mine = of_track(rows, track_key, artist_key)
        for period in PERIODS:
            query = {"from": period.start, "to": period.end} if period.start else {}
            response = client.get(url, query)
            check_numbers(response, mine, tz_name, period, "top_tracks")
            tz = ZoneInfo(tz_name)
            inside = [
                r
                for r in mine
                if period.start is None or period.start <= r[0].astimezone(tz).date() <= period.end
            ]
            spellings = Counter((r[3], r[4] or "") for r in inside)
            uris = Counter(r[6] for r in inside if r[6])
            shown = response.context
            assert {(s["name"], s["artist"]): s["entries"] for s in shown["spellings"]} == (
                spellings
            )
            assert {u["uri"]: u["entries"] for u in shown["uris"]} == uris
            page = unescape(response.content.decode())
            for name, artist in spellings:
                assert name in page and artist in page
            for uri in uris:
                assert uri in page


def test_the_straße_track_gathers_every_spelling_and_link(history, client):
    alice, rows = history
    client.force_login(alice)
    url = links.track_url(alice.pk, "STRASSE", "DIE  BAND")
    assert url == links.track_url(alice.pk, "Straße", "Die Band")
    page = unescape(client.get(url).content.decode())
    mine = of_track(rows, "strasse", "die band")
    spellings = {r[3] for r in mine} | {r[4] for r in mine}
    assert len(spellings) >= 4  # Straße and strasse, Die Band and DIE BAND (account data)
    for spelling in spellings | {"spotify:track:a1", "spotify:track:a2"}:
        assert spelling in page
    assert "https://open.spotify.com/track/a" in page
    assert links.artist_url(alice.pk, "Die Band") in page


def test_history_links_every_track_and_artist_to_its_page(history, client):
    alice, _rows = history
    client.force_login(alice)
    page = client.get("/history").content.decode()
    found = set(re.findall(r'href="(/history/(?:artist|track)/[0-9a-f]+)"', page))
    assert len([u for u in found if "/track/" in u]) == 4
    assert len([u for u in found if "/artist/" in u]) == 4
    for url in found:
        assert client.get(url).status_code == 200


HOSTILE = [
    ("AC/DC", "Back/In/Black"),
    ("100% Pure", "50%25 off %2F"),
    ("Who?", "What #1? & more"),
    ('<script>alert("x")</script>', "<b>bold</b> & 'quoted'"),
    ("..", "."),
    ("Björk", "Jóga \u00a0 ß"),
    ("\u200f\u05e2\u05d1\u05e8\u05d9\u05ea", "\U0001f3b5 \u4e2d\u6587 / \u0639\u0631\u0628\u064a"),
    # The longest names an import keeps (reader.MAX_TEXT_CHARS).
    ("L" * 2000, "Ü" * 2000),
]


def test_hostile_names_make_working_links_and_are_shown_escaped(client):
    bob = listener("bob")
    entries = [
        extended(f"2024-05-0{n + 1}T10:00:00Z", 60_000 + n, track=track, artist=artist, album="A")
        for n, (artist, track) in enumerate(HOSTILE)
    ]
    done = run_import(bob, json_upload("Streaming_History_Audio_2024.json", entries))
    assert done.state == "done", done.errors
    client.force_login(bob)
    for artist, track in HOSTILE:
        for url in (links.artist_url(bob.pk, artist), links.track_url(bob.pk, track, artist)):
            assert re.fullmatch(r"/history/(artist/[0-9a-f]{16}|track/[0-9a-f]{32})", url)
            response = client.get(url)
            assert response.status_code == 200, (artist, track)
            page = response.content.decode()
            assert "<script>alert" not in page and "<b>bold" not in page
            assert artist in unescape(page)
        assert response.context["name"] == track
        assert response.context["data"]["plays"] == 1
    listing = client.get("/history").content.decode()
    assert links.artist_url(bob.pk, "AC/DC") in listing


def test_an_artist_name_that_normalises_to_nothing_has_no_page_but_its_tracks_do(client):
    bob = listener("bob")
    run_import(
        bob,
        json_upload(
            "Streaming_History_Audio_2024.json",
            [extended("2024-05-01T10:00:00Z", 60_000, track="Nameless", artist="  ")],
        ),
    )
    client.force_login(bob)
    assert links.artist_url(bob.pk, "  ") is None
    url = links.track_url(bob.pk, "Nameless", "  ")
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["data"]["plays"] == 1


def test_unknown_ids_are_a_friendly_404(history, client):
    alice, _rows = history
    client.force_login(alice)
    for url in (
        links.artist_url(alice.pk, "Nobody"),
        links.track_url(alice.pk, "No Song", "Die Band"),
        links.track_url(alice.pk, "Straße", "Nobody"),
        "/history/artist/" + "0" * 16,
        "/history/track/" + "0" * 32,
        "/history/artist/XYZ",
        "/history/artist/die-band",
        "/history/track/" + "0" * 31,
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "no page here" in response.content.decode()


def test_another_listener_s_link_shows_them_nothing(history, client):
    alice, _rows = history
    bob = listener("bob")
    run_import(
        bob,
        json_upload(
            "Streaming_History_Audio_2024.json",
            [extended("2024-05-01T10:00:00Z", 45_000, track="Straße", artist="Die Band")],
        ),
    )
    alices = [
        links.artist_url(alice.pk, "Die Band"),
        links.track_url(alice.pk, "Straße", "Die Band"),
    ]
    bobs = [links.artist_url(bob.pk, "Die Band"), links.track_url(bob.pk, "Straße", "Die Band")]
    assert not set(alices) & set(bobs)
    client.force_login(bob)
    for url in alices:
        assert client.get(url).status_code == 404
    for url in bobs:
        response = client.get(url)
        assert response.context["data"]["plays"] == 1
        assert response.context["data"]["ms_played"] == 45_000
        assert "STRASSE" not in response.content.decode()


def test_an_empty_history_has_no_detail_pages(client):
    bob = listener("bob")
    client.force_login(bob)
    assert client.get(links.artist_url(bob.pk, "Die Band")).status_code == 404
    assert client.get(links.track_url(bob.pk, "Song", "Band")).status_code == 404


def test_a_deleted_history_takes_its_pages_with_it(history, client):
    from listening_history import services

    alice, _rows = history
    client.force_login(alice)
    url = links.artist_url(alice.pk, "Die Band")
    assert client.get(url).status_code == 200
    services.delete_history(alice)
    assert client.get(url).status_code == 404


def test_a_period_without_plays_of_the_artist_is_an_empty_page_not_a_404(history, client):
    alice, _rows = history
    client.force_login(alice)
    response = client.get(
        links.artist_url(alice.pk, "Die Band"), {"from": "2030-01-01", "to": "2030-01-31"}
    )
    assert response.status_code == 200
    assert response.context["name"] in ("Die Band", "DIE BAND", "die  band")
    assert response.context["data"]["plays"] == 0
    assert "No tracks in this period." in response.content.decode()


def test_the_period_picker_lists_the_artist_s_own_years(history, client):
    alice, rows = history
    client.force_login(alice)
    page = client.get(links.artist_url(alice.pk, "Synth Kid")).content.decode()
    years = {r[0].year for r in of_artist(rows, "synth kid")}
    assert "2022" not in years  # account data has Die Band only
    for year in years:
        assert f"from={year}-01-01&amp;to={year}-12-31" in page
    assert "from=2022-01-01" not in page


@pytest.mark.parametrize(
    "query", [{"from": "2024-13-01"}, {"to": "soon"}, {"from": "2024-05-02", "to": "2024-05-01"}]
)
def test_bad_periods_are_a_400(history, client, query):
    alice, _rows = history
    client.force_login(alice)
    assert client.get(links.artist_url(alice.pk, "Die Band"), query).status_code == 400
    assert client.get(links.track_url(alice.pk, "Straße", "Die Band"), query).status_code == 400


def test_the_pages_need_a_login(history, client):
    alice, _rows = history
    for url in (
        links.artist_url(alice.pk, "Die Band"),
        links.track_url(alice.pk, "Straße", "Die Band"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_the_pages_have_accessible_charts_unique_ids_and_no_style(history, client):
    alice, _rows = history
    client.force_login(alice)
    for url in (
        links.artist_url(alice.pk, "Die Band"),
        links.track_url(alice.pk, "Straße", "Die Band"),
    ):
        page = client.get(url).content.decode()
        assert page.count('role="img"') == 2
        assert "style=" not in page
        ids = re.findall(r'\sid="([^"]+)"', page)
        assert len(ids) == len(set(ids))


def test_the_template_tags_link_the_signed_in_listener_s_pages(rf):
    from django.contrib.auth.models import AnonymousUser
    from django.template import engines

    bob = listener("bob")
    template = engines["django"].from_string(
        "{% load history_links %}{% artist_url name as a %}{% track_url track name as t %}"
        "{{ a }}|{{ t }}"
    )
    request = rf.get("/")
    request.user = bob
    text = template.render({"name": "AC/DC", "track": "T.N.T."}, request)
    assert (
        text == f"{links.artist_url(bob.pk, 'AC/DC')}|{links.track_url(bob.pk, 'T.N.T.', 'AC/DC')}"
    )
    request.user = AnonymousUser()
    assert template.render({"name": "AC/DC", "track": "T"}, request) == "|"


def test_a_seeded_history_of_thousands_matches_the_direct_computation(client):
    from devtools.history_seed import seed

    bob = listener("bob")
    assert seed(bob, entries=3000, years=2) == 3000
    client.force_login(bob)
    rows = stored_rows(bob)
    top = expected(rows, "UTC", Period())["top_artists"][0]["name"]
    check_numbers(
        client.get(links.artist_url(bob.pk, top)),
        of_artist(rows, norm(top)),
        "UTC",
        Period(),
        "top_tracks",
    )
    song = expected(of_artist(rows, norm(top)), "UTC", Period())["top_tracks"][0]
    url = links.track_url(bob.pk, song["name"], song["artist"])
    mine = of_track(rows, norm(song["name"]), norm(song["artist"]))
    check_numbers(client.get(url), mine, "UTC", Period())


def test_a_preset_s_page_is_stored_equal_to_the_direct_computation_until_the_history_changes(
    history, client
):
    from listening_history import insights
    from listening_history.insight_models import PrecomputedSummary

    alice, _rows = history
    client.force_login(alice)
    url = links.artist_url(alice.pk, "Die Band")
    ident = url.rsplit("/", 1)[1]
    first = client.get(url, {"from": "2024-01-01", "to": "2024-12-31"}).context["data"]
    stored = PrecomputedSummary.objects.get(
        user=alice, period=f"artist:{ident}:2024-01-01..2024-12-31"
    )
    found = links.find_artist(alice.pk, ident)
    direct = insights.detail(
        alice.pk, items=found.items, period=Period(date(2024, 1, 1), date(2024, 12, 31))
    )
    assert stored.data == direct == first
    again = client.get(url, {"from": "2024-01-01", "to": "2024-12-31"}).context["data"]
    assert again == direct
    # A custom range is computed, not stored.
    client.get(url, {"from": "2024-01-02", "to": "2024-12-31"})
    assert not PrecomputedSummary.objects.filter(period__contains="2024-01-02").exists()

    run_import(
        alice,
        json_upload(
            "Streaming_History_Audio_2024b.json",
            [extended("2024-12-30T10:00:00Z", 90_000, track="Straße", artist="Die Band")],
        ),
    )
    later = client.get(url, {"from": "2024-01-01", "to": "2024-12-31"})
    assert later.context["data"]["plays"] == direct["plays"] + 1
    year = Period(date(2024, 1, 1), date(2024, 12, 31))
    check_numbers(later, of_artist(stored_rows(alice), "die band"), "UTC", year, "top_tracks")
