"""Every summary.json field against a direct Python computation over generated entries.

The entries go in through the real import (the worker's task), the expected numbers come
from the stored rows by plain Python (zoneinfo for hours and days), never from the SQL
under test. The generated history crosses both of Berlin's DST changes and local midnights.
"""

import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from listening_history import insights, precompute
from listening_history.insight_models import PrecomputedSummary
from listening_history.insights import Period
from listening_history.tests.helpers import account, extended, json_upload, listener, run_import

pytestmark = pytest.mark.django_db(transaction=True)

TRACK, EPISODE, CHAPTER, UNKNOWN = 1, 2, 3, 0


def norm(text):
    return " ".join(
        unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold()).split()
    )


def stored_rows(user):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.ts, e.ms_played, i.kind, i.track_name, a.name, al.name, i.track_uri,
                   i.show_name
            FROM listening_history_entry e
            JOIN listening_history_item i ON i.id = e.item_id
            LEFT JOIN listening_history_artist a ON a.id = i.artist_id
            LEFT JOIN listening_history_album al ON al.id = i.album_id
            WHERE e.user_id = %s
            """,
            [user.pk],
        )
        return cursor.fetchall()


def most_frequent(counter):
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def expected(rows, tz_name, period, order="time"):
    """summary.json computed directly, entry by entry."""
    tz = ZoneInfo(tz_name)
    if period.start is not None:
        lower = datetime.combine(period.start, time(), tzinfo=tz)
        upper = datetime.combine(period.end + timedelta(days=1), time(), tzinfo=tz)
        rows = [row for row in rows if lower <= row[0] < upper]
    kind_ms = Counter()
    plays = 0
    play_times = []
    clock = [[0] * 24 for _ in range(7)]
    groups = {
        name: defaultdict(lambda: {"plays": 0, "ms": 0, "spell": Counter(), "uri": Counter()})
        for name in ("tracks", "artists", "albums", "shows")
    }
    for ts, ms, kind, track, artist, album, uri, show in rows:
        kind_ms[kind] += ms
        is_play = ms >= 30_000
        plays += is_play
        if is_play:
            play_times.append(ts)
        local = ts.astimezone(tz)
        clock[local.weekday()][local.hour] += ms
        found = []
        if kind == TRACK:
            if track is not None and norm(track):
                found.append(
                    ("tracks", (norm(track), norm(artist or "")), (track, artist or ""), uri)
                )
            if artist is not None and norm(artist):
                found.append(("artists", norm(artist), artist, None))
            if album is not None and norm(album):
                found.append(
                    ("albums", (norm(album), norm(artist or "")), (album, artist or ""), None)
                )
        if kind == EPISODE and show is not None and norm(show):
            found.append(("shows", norm(show), show, None))
        for name, key, spelling, link in found:
            group = groups[name][key]
            group["plays"] += is_play
            group["ms"] += ms
            group["spell"][spelling] += 1
            if link:
                group["uri"][link] += 1

    def top(name, make):
        ranked = [(g, most_frequent(g["spell"])) for g in groups[name].values()]
        if order == "plays":
            ranked.sort(key=lambda gs: (-gs[0]["plays"], -gs[0]["ms"], gs[1]))
        else:
            ranked.sort(key=lambda gs: (-gs[0]["ms"], -gs[0]["plays"], gs[1]))
        return [make(g, s) for g, s in ranked[:25]]

    def iso(moment):
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

    return {
        "from": period.start.isoformat() if period.start else None,
        "to": period.end.isoformat() if period.end else None,
        "tz": tz_name,
        "plays": plays,
        "ms_played": sum(kind_ms.values()),
        "music_ms": kind_ms[TRACK],
        "podcast_ms": kind_ms[EPISODE],
        "audiobook_ms": kind_ms[CHAPTER],
        "other_ms": kind_ms[UNKNOWN],
        "tracks": len(groups["tracks"]),
        "artists": len(groups["artists"]),
        "albums": len(groups["albums"]),
        "shows": len(groups["shows"]),
        "first_play": iso(min(play_times, default=None)),
        "last_play": iso(max(play_times, default=None)),
        "top_tracks": top(
            "tracks",
            lambda g, s: {
                "name": s[0],
                "artist": s[1],
                "uri": most_frequent(g["uri"]) if g["uri"] else None,
                "plays": g["plays"],
                "ms_played": g["ms"],
            },
        ),
        "top_artists": top(
            "artists", lambda g, s: {"name": s, "plays": g["plays"], "ms_played": g["ms"]}
        ),
        "top_albums": top(
            "albums",
            lambda g, s: {
                "name": s[0],
                "artist": s[1],
                "plays": g["plays"],
                "ms_played": g["ms"],
            },
        ),
        "top_shows": top(
            "shows", lambda g, s: {"name": s, "plays": g["plays"], "ms_played": g["ms"]}
        ),
        "clock": clock,
    }


# Spellings of a few recordings: case, ß/ss, NFD/NFC, whitespace runs, relinked URIs.
TRACKS = [
    (
        ["Straße", "STRASSE", "strasse"],
        ["Die Band", "die  band"],
        "Album A",
        ["spotify:track:a1", "spotify:track:a2"],
    ),
    (
        ["Cafe\u0301 Song", "Café song", "café\u00a0song "],
        ["Zoë", "ZOË"],
        "Café",
        ["spotify:track:b1"],
    ),
    (
        ["Night Drive"],
        ["Synth Kid"],
        None,
        ["spotify:track:c1", "spotify:track:c2", "spotify:track:c3"],
    ),
    (["Night Drive"], ["Other Kid"], "Night", ["spotify:track:d1"]),
]
SHOWS = ["The Daily", "the  daily", "Hard Fork"]
PLATFORMS = ["android", "ios", "web_player", "osx"]
COUNTRIES = ["DE", "AR", "SE"]
ENDS = ["trackdone", "fwdbtn", "endplay"]


def generated_history(seed=17, count=400):
    """Extended entries around Berlin's DST changes of 2024, local midnights and hour edges."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    moments = set()
    anchors = [
        datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),  # last second of CET
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # 03:00 CEST
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2024, 10, 27, 1, 30, tzinfo=UTC),  # 02:30 CET (the hour again)
        datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # Berlin midnight (CET)
        datetime(2024, 6, 30, 22, 0, tzinfo=UTC),  # Berlin midnight (CEST), 1 July
        datetime(2024, 7, 1, 3, 0, tzinfo=UTC),  # Buenos Aires midnight
        datetime(2024, 1, 1, 0, 0, tzinfo=UTC),  # UTC midnight, new year
        datetime(2023, 12, 31, 23, 0, tzinfo=UTC),  # Berlin's new year
    ]
    moments.update(anchors)
    start = datetime(2023, 11, 1, tzinfo=UTC)
    while len(moments) < count:
        moments.add(start + timedelta(seconds=rnd.randrange(0, 400 * 86400)))
    entries = []
    for ts in sorted(moments):
        ms = rnd.choice([0, 5_000, 29_999, 30_000, 30_001, 180_000, 240_000, 3_600_000])
        when = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = {
            "platform": rnd.choice(PLATFORMS),
            "conn_country": rnd.choice(COUNTRIES),
            "reason_end": rnd.choice(ENDS),
            "shuffle": rnd.choice([True, False, None]),
            "skipped": rnd.choice([True, False, None]),
            "offline": rnd.choice([True, False]),
        }
        roll = rnd.random()
        if roll < 0.7:
            names, artists, album, uris = rnd.choice(TRACKS)
            entries.append(
                extended(
                    when,
                    ms,
                    track=rnd.choice(names),
                    artist=rnd.choice(artists),
                    album=album,
                    uri=rnd.choice(uris),
                    **extra,
                )
            )
        elif roll < 0.85:
            show = rnd.choice(SHOWS)
            entries.append(
                extended(
                    when,
                    ms,
                    track=None,
                    artist=None,
                    album=None,
                    spotify_track_uri=None,
                    episode_name=f"Episode {rnd.randrange(5)}",
                    episode_show_name=show,
                    spotify_episode_uri=f"spotify:episode:{rnd.randrange(5)}{norm(show)[:3]}",
                    **extra,
                )
            )
        elif roll < 0.93:
            entries.append(
                extended(
                    when,
                    ms,
                    track=None,
                    artist=None,
                    album=None,
                    spotify_track_uri=None,
                    audiobook_title="A Book",
                    audiobook_uri="spotify:show:book",
                    audiobook_chapter_title=f"Chapter {rnd.randrange(3)}",
                    audiobook_chapter_uri=f"spotify:episode:ch{rnd.randrange(3)}",
                    **extra,
                )
            )
        else:
            entries.append(
                extended(
                    when,
                    ms,
                    track=None,
                    artist=None,
                    album=None,
                    spotify_track_uri=None,
                    **extra,
                )
            )
    # Account data (no URIs, minute times), a year earlier so nothing matches the above.
    account_entries = [
        account(
            f"2022-0{month}-1{day} 1{hour}:0{minute}",
            rnd.choice([10_000, 200_000]),
            artist=rnd.choice(["Die Band", "DIE BAND"]),
            track=rnd.choice(["Straße", "strasse"]),
        )
        for month in range(1, 4)
        for day in range(3)
        for hour in range(2)
        for minute in range(2)
    ]
    return entries, account_entries


@pytest.fixture
def history():
    alice = listener("alice")
    entries, account_entries = generated_history()
    done = run_import(
        alice,
        json_upload("Streaming_History_Audio_2023-2024.json", entries),
        json_upload("StreamingHistory_music_0.json", account_entries),
    )
    assert done.state == "done", done.errors
    return alice, stored_rows(alice)


PERIODS = [
    Period(),
    Period(date(2024, 3, 1), date(2024, 3, 31)),  # spring forward
    Period(date(2024, 10, 27), date(2024, 10, 27)),  # the 25-hour day
    Period(date(2024, 3, 31), date(2024, 7, 1)),
    Period(date(2024, 1, 1), date(2024, 12, 31)),
    Period(date(2022, 1, 1), date(2022, 12, 31)),  # account data only
    Period(date(2030, 1, 1), date(2030, 1, 2)),  # nothing
]


@pytest.mark.parametrize("tz_name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_every_summary_field_equals_a_direct_computation(history, client, tz_name):
    alice, rows = history
    client.force_login(alice)
    assert len(rows) > 400
    for period in PERIODS:
        for order in ("time", "plays"):
            query = {"tz": tz_name, "order": order}
            if period.start:
                query.update({"from": period.start.isoformat(), "to": period.end.isoformat()})
            response = client.get("/history/summary.json", query)
            assert response.status_code == 200
            answer = response.json()
            want = expected(rows, tz_name, period, order)
            assert list(answer) == list(want)
            for field, value in want.items():
                assert answer[field] == value, (tz_name, period, order, field)


def test_the_generated_history_exercises_what_it_claims(history):
    _alice, rows = history
    want = expected(rows, "Europe/Berlin", Period())
    # Spellings folded: four recordings, of which two share a title.
    assert want["tracks"] == 4
    assert {t["name"] for t in want["top_tracks"]} >= {"Night Drive"}
    assert all(want[f] for f in ("music_ms", "podcast_ms", "audiobook_ms", "other_ms"))
    assert want["shows"] == 2
    assert 0 < want["plays"] < len(rows)


def test_what_the_worker_precomputed_equals_the_direct_computation(history):
    alice, _rows = history
    stored = {
        row.period: row
        for row in PrecomputedSummary.objects.filter(user=alice).exclude(
            period__startswith="discoveries:"
        )
    }
    assert "all" in stored
    # All time, last 12 months, 3 years (2022 to 2024 or 2025) and every month with entries.
    assert len(stored) >= 1 + 1 + 3 + 15
    today = insights.today_in(ZoneInfo("UTC"))
    for key, row in stored.items():
        if key == "all":
            period = Period()
        else:
            start, end = key.split("..")
            period = Period(date.fromisoformat(start), date.fromisoformat(end))
        assert precompute.is_preset(period, today=today)
        assert row.stamp == precompute.history_stamp(alice.pk)
        direct = json.loads(json.dumps(insights.summary(alice.pk, tz_name="UTC", period=period)))
        assert row.data == direct, key


def test_a_zone_change_rebuilds_for_the_new_zone_and_pages_serve_it(history, client):
    alice, rows = history
    client.force_login(alice)
    response = client.post("/history/time-zone", {"zone": "Europe/Berlin"})
    assert response.status_code == 302
    assert set(PrecomputedSummary.objects.filter(user=alice).values_list("zone", flat=True)) <= {
        "Europe/Berlin"
    }
    from listening_history.tasks import rebuild_summaries

    rebuild_summaries.call(alice.pk)
    assert PrecomputedSummary.objects.filter(
        user=alice, zone="Europe/Berlin", period="all"
    ).exists()
    answer = client.get("/history/summary.json").json()
    assert answer == expected(rows, "Europe/Berlin", Period())


def test_deleting_the_history_makes_stored_summaries_stale(history, client):
    from listening_history import services

    alice, _rows = history
    client.force_login(alice)
    assert client.get("/history/summary.json").json()["plays"] > 0
    services.delete_history(alice)
    answer = client.get("/history/summary.json").json()
    assert answer["plays"] == 0 and answer["top_tracks"] == [] and answer["first_play"] is None


def test_an_empty_history_answers_zeros_and_nulls(client):
    bob = listener("bob")
    client.force_login(bob)
    answer = client.get("/history/summary.json").json()
    assert answer == expected([], "UTC", Period())
    assert answer["first_play"] is None and answer["from"] is None
    assert answer["clock"] == [[0] * 24 for _ in range(7)]


def test_a_one_entry_history(client):
    bob = listener("bob")
    run_import(
        bob,
        json_upload(
            "Streaming_History_Audio_2024.json",
            [extended("2024-03-31T01:00:00Z", 30_000, track="Only", artist="One", album="Solo")],
        ),
    )
    client.force_login(bob)
    answer = client.get("/history/summary.json", {"tz": "Europe/Berlin"}).json()
    assert answer["plays"] == 1 and answer["tracks"] == answer["artists"] == answer["albums"] == 1
    assert answer["first_play"] == answer["last_play"] == "2024-03-31T01:00:00Z"
    assert answer["clock"][6][3] == 30_000  # Sunday 03:00 CEST, the first hour after the jump
    assert answer["top_tracks"] == [
        {
            "name": "Only",
            "artist": "One",
            "uri": "spotify:track:Only-One",
            "plays": 1,
            "ms_played": 30_000,
        }
    ]
    assert answer == expected(stored_rows(bob), "Europe/Berlin", Period())


def test_an_entry_ending_at_midnight_belongs_to_the_new_day(client):
    bob = listener("bob")
    run_import(
        bob,
        json_upload(
            "Streaming_History_Audio_2024.json",
            [
                extended(
                    "2024-06-30T22:00:00Z", 60_000, track="Midnight"
                ),  # 00:00 in Berlin, 1 July
            ],
        ),
    )
    client.force_login(bob)
    june = {"tz": "Europe/Berlin", "from": "2024-06-01", "to": "2024-06-30"}
    july = {"tz": "Europe/Berlin", "from": "2024-07-01", "to": "2024-07-01"}
    assert client.get("/history/summary.json", june).json()["ms_played"] == 0
    assert client.get("/history/summary.json", july).json()["ms_played"] == 60_000
    assert client.get("/history/summary.json", {**june, "tz": "UTC"}).json()["ms_played"] == 60_000


def test_a_listener_only_ever_sees_their_own_history(history, client):
    _alice, _rows = history
    bob = listener("bob")
    client.force_login(bob)
    assert client.get("/history/summary.json").json()["ms_played"] == 0
    page = client.get("/history").content.decode()
    assert "Straße" not in page and "/history/import" in page


@pytest.mark.parametrize(
    "query",
    [
        {"tz": "Mars/Olympus"},
        {"tz": "../etc/passwd"},
        {"from": "2024-13-01"},
        {"from": "2024-1-1"},
        {"to": "yesterday"},
        {"from": "2024-05-02", "to": "2024-05-01"},
        {"order": "random"},
    ],
)
def test_bad_parameters_are_a_400(client, query):
    client.force_login(listener("bob"))
    response = client.get("/history/summary.json", query)
    assert response.status_code == 400
    assert "error" in response.json()
    if "tz" not in query:
        assert client.get("/history", query).status_code == 400


def test_an_unknown_zone_is_not_saved(client):
    bob = listener("bob")
    client.force_login(bob)
    assert client.post("/history/time-zone", {"zone": "Nowhere/City"}).status_code == 400
    assert precompute.zone_of(bob.pk) is None


def test_the_pages_need_a_login(client):
    assert client.get("/history").status_code == 302
    assert client.get("/history/summary.json").status_code == 302


def test_normalising_folds_case_width_of_space_and_composition():
    assert insights.normalise("Straße") == insights.normalise("STRASSE")
    assert insights.normalise("Cafe\u0301\u00a0 Song ") == "café song"
    assert insights.normalise(None) == ""


def test_the_page_shows_the_same_numbers_with_accessible_charts_and_no_style(history, client):
    alice, rows = history
    client.force_login(alice)
    response = client.get("/history", {"from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 200
    page = response.content.decode()
    want = expected(rows, "UTC", Period(date(2024, 1, 1), date(2024, 12, 31)))
    assert f"<dd>{want['plays']}</dd>" in page
    assert want["top_tracks"][0]["name"] in page
    assert page.count('role="img"') == 3
    assert "<desc id=" in page and "<title id=" in page
    assert "style=" not in page
    assert "Which time zone do you listen in?" in page
    assert "<table" in page


def test_the_page_s_period_picker_lists_the_years_with_entries(history, client):
    alice, _rows = history
    client.force_login(alice)
    page = client.get("/history").content.decode()
    for year in ("2022", "2023", "2024"):
        assert f"from={year}-01-01&amp;to={year}-12-31" in page
    assert "Last 12 months" in page


def test_top_lists_show_ten_and_twenty_five_on_expand(client):
    bob = listener("bob")
    entries = [
        extended(f"2024-05-01T{n // 60:02d}:{n % 60:02d}:00Z", 60_000 + n, track=f"T{n:02d}")
        for n in range(30)
    ]
    run_import(bob, json_upload("Streaming_History_Audio_2024.json", entries))
    client.force_login(bob)
    assert len(client.get("/history/summary.json").json()["top_tracks"]) == 25
    page = client.get("/history").content.decode()
    assert '<details class="more">' in page
    assert "Show all 25 tracks" in page
    assert page.index("T29") < page.index("T20") < page.index("<details") < page.index("T19")


def test_a_seeded_history_of_thousands_matches_the_direct_computation(client):
    from devtools.history_seed import seed

    bob = listener("bob")
    assert seed(bob, entries=3000, years=2) == 3000
    client.force_login(bob)
    rows = stored_rows(bob)
    answer = client.get("/history/summary.json", {"tz": "America/New_York"}).json()
    assert answer == expected(rows, "America/New_York", Period())
    assert client.get("/history").status_code == 200


def test_every_id_on_the_page_is_unique(history, client):
    """The charts' <title>/<desc> ids and the cards' headings must not collide (axe, labels)."""
    alice, _rows = history
    client.force_login(alice)
    page = client.get("/history").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert "clock-chart-title" in ids
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
