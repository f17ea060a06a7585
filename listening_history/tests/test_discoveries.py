"""Discoveries (forgotten favourites, new artists per year, streaks) against a direct Python
computation over the stored entries.

The entries go in through the real import; the expected numbers come from the stored rows by
plain Python (zoneinfo for local days and years), never from the SQL under test. The generated
history spans four years, crosses Berlin's DST changes and local midnights, spells artists and
tracks several ways, and has more than 50 tracks a year so that the top-50 cut matters.
"""

import random
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from listening_history import discoveries, insights, links, precompute, services, tasks
from listening_history.insight_models import PrecomputedSummary
from listening_history.insights import Period
from listening_history.tests.helpers import extended, json_upload, listener, run_import

pytestmark = pytest.mark.django_db(transaction=True)

TRACK = 1
TODAY = date(2024, 12, 1)
ZONES = ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"]


def norm(text):
    return " ".join(
        unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold()).split()
    )


def stored_rows(user):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.ts, e.ms_played, i.kind, i.track_name, a.name, i.track_uri
            FROM listening_history_entry e
            JOIN listening_history_item i ON i.id = e.item_id
            LEFT JOIN listening_history_artist a ON a.id = i.artist_id
            WHERE e.user_id = %s
            """,
            [user.pk],
        )
        return cursor.fetchall()


def most_frequent(counter):
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# -- the direct computation ---------------------------------------------------------------


def expected_days(rows, tz):
    return sorted({ts.astimezone(tz).date() for ts, ms, *_ in rows if ms >= 30_000})


def expected_streaks(days, today):
    """Walk every calendar day from the first to the last: (longest, current)."""
    if not days:
        return None, None
    have = set(days)
    longest = None
    run_start = None
    day = days[0]
    while day <= days[-1] + timedelta(days=1):
        if day in have and run_start is None:
            run_start = day
        if day not in have and run_start is not None:
            length = (day - run_start).days
            if longest is None or length > longest["days"]:
                longest = {
                    "start": run_start.isoformat(),
                    "end": (day - timedelta(days=1)).isoformat(),
                    "days": length,
                }
            run_start = None
        day += timedelta(days=1)
    current = None
    if days[-1] in (today, today - timedelta(days=1)):
        start = days[-1]
        while start - timedelta(days=1) in have:
            start -= timedelta(days=1)
        current = {
            "start": start.isoformat(),
            "end": days[-1].isoformat(),
            "days": (days[-1] - start).days + 1,
        }
    return longest, current


def expected_new_artists(rows, tz):
    spellings, first = defaultdict(Counter), {}
    for ts, ms, kind, _track, artist, _uri in rows:
        if kind != TRACK or artist is None or not norm(artist):
            continue
        key = norm(artist)
        spellings[key][artist] += 1
        if ms >= 30_000 and (key not in first or ts < first[key]):
            first[key] = ts
    per_year = defaultdict(list)
    for key, ts in first.items():
        per_year[ts.astimezone(tz).year].append((ts, most_frequent(spellings[key])))
    return [
        {
            "year": year,
            "count": len(per_year[year]),
            "artists": [
                {"name": name, "first_play": iso(ts)} for ts, name in sorted(per_year[year])[:25]
            ],
        }
        for year in sorted(per_year)
    ]


def expected_year_tops(rows, tz):
    """{year: [(key, ms, plays, (track, artist), uri)] ranked}, {key: last play}."""
    groups = defaultdict(
        lambda: defaultdict(lambda: {"ms": 0, "plays": 0, "spell": Counter(), "uri": Counter()})
    )
    last = {}
    for ts, ms, kind, track, artist, uri in rows:
        if kind != TRACK or track is None or not norm(track):
            continue
        key = (norm(track), norm(artist or ""))
        group = groups[ts.astimezone(tz).year][key]
        group["ms"] += ms
        group["plays"] += ms >= 30_000
        group["spell"][(track, artist or "")] += 1
        if uri:
            group["uri"][uri] += 1
        if ms >= 30_000 and (key not in last or ts > last[key]):
            last[key] = ts
    tops = {}
    for year, by_key in groups.items():
        ranked = [
            (
                key,
                g["ms"],
                g["plays"],
                most_frequent(g["spell"]),
                most_frequent(g["uri"]) if g["uri"] else None,
            )
            for key, g in by_key.items()
        ]
        ranked.sort(key=lambda r: (-r[1], -r[2], r[3]))
        tops[year] = ranked
    return tops, last


def expected_forgotten(rows, tz, today):
    tops, last = expected_year_tops(rows, tz)
    quiet_since = datetime.combine(today - timedelta(days=182), time(), tzinfo=tz)
    best = {}
    for year in sorted(tops, reverse=True):
        if year >= today.year:
            continue
        for rank, (key, ms, plays, spelling, uri) in enumerate(tops[year][:50], start=1):
            if key in last and last[key] >= quiet_since:
                continue
            if key not in best or rank < best[key]["rank"]:
                best[key] = {
                    "name": spelling[0],
                    "artist": spelling[1],
                    "uri": uri,
                    "year": year,
                    "rank": rank,
                    "ms_played": ms,
                    "plays": plays,
                    "last_play": iso(last.get(key)),
                }
    found = sorted(best.values(), key=lambda t: (t["rank"], -t["year"], t["name"], t["artist"]))
    return found[:25], len(found)


# -- generated data --------------------------------------------------------------------------

ARTISTS = [["Die Band", "DIE  BAND"], ["Zoë", "ZOË", "Zoe\u0308"], ["Straße", "STRASSE"]] + [
    [f"Artist {n}"] for n in range(12)
]


def generated_history(seed=18, count=2400):
    """Entries from 2021 to November 2024: 60 tracks a year, some never heard again after a
    year, and anchors at Berlin's DST changes and local midnights."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    anchors = [
        datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # Berlin midnight, the 23-hour day
        datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
        datetime(2024, 10, 26, 22, 0, tzinfo=UTC),  # Berlin midnight, the 25-hour day
        datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
        datetime(2023, 12, 31, 23, 0, tzinfo=UTC),  # Berlin's new year
        datetime(2024, 1, 1, 2, 59, tzinfo=UTC),  # still 2023 in Buenos Aires
        datetime(2022, 12, 31, 23, 30, tzinfo=UTC),
    ]
    moments = set(anchors)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    span = (datetime(2024, 11, 30, tzinfo=UTC) - start).total_seconds()
    while len(moments) < count:
        moments.add(start + timedelta(seconds=rnd.randrange(int(span))))
    entries = []
    for ts in sorted(moments):
        # Each year its own 60 tracks (plus a few that last), so old favourites go quiet.
        if rnd.random() < 0.2:
            n = rnd.randrange(8)
            track_names, uri = [f"Evergreen {n}", f"EVERGREEN  {n}"], f"ev{n}"
        else:
            n = rnd.randrange(60)
            track_names, uri = [f"Song {ts.year}-{n}", f"song {ts.year}-{n} "], f"{ts.year}s{n}"
        artists = ARTISTS[(n + (ts.year if n % 3 else 0)) % len(ARTISTS)]
        # Recent tracks of a past year: played again lately, so not forgotten.
        if ts.year < 2024 and n < 5 and rnd.random() < 0.5:
            ts = datetime(2024, 11, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(40000))
        entries.append(
            extended(
                ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                rnd.choice([0, 10_000, 29_999, 30_000, 95_000, 200_000, 240_000, 400_000]),
                track=rnd.choice(track_names),
                artist=rnd.choice(artists),
                album="Record",
                # Relinked: two URIs for one recording (the item is the URI).
                uri=f"spotify:track:{uri}{rnd.choice('ab')}",
            )
        )
    return entries


@pytest.fixture
def history():
    alice = listener("alice")
    done = run_import(
        alice, json_upload("Streaming_History_Audio_2021-2024.json", generated_history())
    )
    assert done.state == "done", done.errors
    return alice, stored_rows(alice)


@pytest.mark.parametrize("tz_name", ZONES)
def test_discoveries_equal_a_direct_computation(history, tz_name):
    alice, rows = history
    tz = ZoneInfo(tz_name)
    answer = discoveries.compute(alice.pk, tz_name=tz_name, today=TODAY)

    days = expected_days(rows, tz)
    longest, current = expected_streaks(days, TODAY)
    forgotten, forgotten_count = expected_forgotten(rows, tz, TODAY)
    assert answer["years"] == sorted({day.year for day in days})
    assert answer["days_with_plays"] == len(days)
    assert answer["longest_streak"] == longest
    assert answer["current_streak"] == current
    assert answer["new_artists"] == expected_new_artists(rows, tz)
    assert answer["forgotten"] == forgotten
    assert answer["forgotten_count"] == forgotten_count


def test_the_generated_history_exercises_what_it_claims(history):
    _alice, rows = history
    tz = ZoneInfo("Europe/Berlin")
    tops, _last = expected_year_tops(rows, tz)
    assert sorted(tops) == [2021, 2022, 2023, 2024]
    assert all(len(ranked) > 50 for ranked in tops.values())
    forgotten, count = expected_forgotten(rows, tz, TODAY)
    assert 25 < count < 150  # listed are 25, and some top tracks were played lately
    assert {item["year"] for item in forgotten} <= {2021, 2022, 2023}
    new = expected_new_artists(rows, tz)
    # Spellings fold: 15 artists in all, most found in 2021.
    assert sum(year["count"] for year in new) == len(ARTISTS)
    longest, _current = expected_streaks(expected_days(rows, tz), TODAY)
    assert longest["days"] >= 3


@pytest.mark.parametrize("tz_name", ZONES)
def test_a_years_top_tracks_here_are_its_top_tracks_on_history(history, tz_name):
    """One code path: the ranking behind forgotten favourites is /history's."""
    alice, _rows = history
    with connection.cursor() as cursor:
        years, _last = discoveries._tracks_per_year(cursor, alice.pk, tz_name)
    for year, groups in years.items():
        summary = insights.summary(
            alice.pk, tz_name=tz_name, period=Period(date(year, 1, 1), date(year, 12, 31))
        )
        ranked = discoveries.top_tracks_of(groups, 25)
        assert [
            {
                "name": spelling[0],
                "artist": spelling[1],
                "uri": group.uri(),
                "plays": group.plays,
                "ms_played": group.ms,
            }
            for _key, group, spelling in ranked
        ] == summary["top_tracks"], year


# -- streaks, by hand --------------------------------------------------------------------


def _plays_on(user, *moments, ms=60_000):
    """One play ending at each of ``moments`` (UTC datetimes)."""
    entries = [
        extended(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), ms, track=f"T{n}")
        for n, moment in enumerate(moments)
    ]
    done = run_import(user, json_upload("Streaming_History_Audio_x.json", entries))
    assert done.state == "done", done.errors


def _noon(day):
    return datetime.combine(day, time(12), tzinfo=UTC)


@pytest.mark.parametrize(
    ("days_ago", "current"),
    [
        ((3, 2, 1, 0), 4),  # played today: alive
        ((3, 2, 1), 3),  # played until yesterday: still alive
        ((4, 3, 2), None),  # nothing yesterday or today: broken
    ],
)
def test_the_current_streak_is_alive_today_or_yesterday_and_broken_after(days_ago, current):
    alice = listener("alice")
    _plays_on(alice, *(_noon(TODAY - timedelta(days=n)) for n in days_ago))
    answer = discoveries.compute(alice.pk, tz_name="UTC", today=TODAY)
    if current is None:
        assert answer["current_streak"] is None
    else:
        assert answer["current_streak"] == {
            "start": (TODAY - timedelta(days=max(days_ago))).isoformat(),
            "end": (TODAY - timedelta(days=min(days_ago))).isoformat(),
            "days": current,
        }
    assert answer["longest_streak"]["days"] == len(days_ago)


def test_streak_days_follow_the_zone_across_midnight_and_dst():
    alice = listener("alice")
    _plays_on(
        alice,
        datetime(2024, 3, 29, 22, 30, tzinfo=UTC),  # Berlin: 23:30 on the 29th
        datetime(2024, 3, 30, 23, 30, tzinfo=UTC),  # Berlin: 00:30 on the 31st (CET)
        datetime(2024, 3, 31, 22, 30, tzinfo=UTC),  # Berlin: 00:30 on 1 April (CEST)
    )
    berlin = discoveries.compute(alice.pk, tz_name="Europe/Berlin", today=date(2024, 4, 2))
    utc = discoveries.compute(alice.pk, tz_name="UTC", today=date(2024, 4, 2))
    # Berlin: 29th, then 31st and 1 April (the 30th has none); UTC: 29th, 30th, 31st.
    assert berlin["longest_streak"] == {"start": "2024-03-31", "end": "2024-04-01", "days": 2}
    assert berlin["current_streak"] == berlin["longest_streak"]
    assert utc["longest_streak"] == {"start": "2024-03-29", "end": "2024-03-31", "days": 3}
    assert utc["current_streak"] is None


def test_of_two_equal_streaks_the_earlier_is_the_longest():
    alice = listener("alice")
    _plays_on(alice, *(_noon(date(2024, 5, d)) for d in (1, 2, 10, 11)))
    answer = discoveries.compute(alice.pk, tz_name="UTC", today=TODAY)
    assert answer["longest_streak"] == {"start": "2024-05-01", "end": "2024-05-02", "days": 2}


def test_short_streams_are_no_plays_and_make_no_streak_artist_or_year():
    alice = listener("alice")
    _plays_on(alice, _noon(TODAY), ms=29_999)
    answer = discoveries.compute(alice.pk, tz_name="UTC", today=TODAY)
    assert answer["years"] == [] and answer["days_with_plays"] == 0
    assert answer["longest_streak"] is None and answer["current_streak"] is None
    assert answer["new_artists"] == []
    # A short stream ranks (listening time counts it), but a track of this year is no
    # earlier year's favourite.
    assert answer["forgotten"] == [] and answer["forgotten_count"] == 0


def test_an_empty_history_discovers_nothing():
    alice = listener("alice")
    assert discoveries.compute(alice.pk, tz_name="UTC", today=TODAY) == {
        "tz": "UTC",
        "today": TODAY.isoformat(),
        "years": [],
        "days_with_plays": 0,
        "longest_streak": None,
        "current_streak": None,
        "new_artists": [],
        "forgotten": [],
        "forgotten_count": 0,
    }


def test_a_one_entry_history():
    alice = listener("alice")
    _plays_on(alice, datetime(2022, 6, 1, 12, tzinfo=UTC))
    answer = discoveries.compute(alice.pk, tz_name="UTC", today=TODAY)
    assert answer["years"] == [2022]
    assert answer["longest_streak"] == {"start": "2022-06-01", "end": "2022-06-01", "days": 1}
    assert answer["new_artists"] == [
        {
            "year": 2022,
            "count": 1,
            "artists": [{"name": "Band", "first_play": "2022-06-01T12:00:00Z"}],
        }
    ]
    assert [(t["name"], t["rank"], t["year"]) for t in answer["forgotten"]] == [("T0", 1, 2022)]


def test_a_favourite_played_within_six_months_is_not_forgotten():
    alice = listener("alice")
    quiet_edge = datetime.combine(TODAY - timedelta(days=182), time(), tzinfo=UTC)
    _plays_on(alice, datetime(2022, 6, 1, 12, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC))
    entries = [
        # T0 again, exactly when the last 183 days begin: not forgotten.
        extended(quiet_edge.strftime("%Y-%m-%dT%H:%M:%SZ"), 60_000, track="t0"),
        # T1 a second before them: forgotten.
        extended(
            (quiet_edge - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), 60_000, track="T1"
        ),
    ]
    run_import(alice, json_upload("Streaming_History_Audio_y.json", entries))
    answer = discoveries.compute(alice.pk, tz_name="UTC", today=TODAY)
    assert [(t["name"], t["year"], t["last_play"]) for t in answer["forgotten"]] == [
        ("T1", 2023, iso(quiet_edge - timedelta(seconds=1)))
    ]


# -- stored like a summary ----------------------------------------------------------------


def test_the_page_serves_the_stored_discoveries_until_the_history_changes(history, client):
    alice, _rows = history
    client.force_login(alice)
    page = client.get("/history/discoveries")
    assert page.status_code == 200
    # The day the page saw (read from the row, so that a test across midnight stays true).
    row = PrecomputedSummary.objects.get(user=alice, period__startswith="discoveries:")
    today = date.fromisoformat(row.data["today"])
    assert row.period == discoveries.period_key(today)
    assert row.stamp == precompute.history_stamp(alice.pk)
    assert row.data == discoveries.compute(alice.pk, tz_name="UTC", today=today)
    html = page.content.decode()
    assert "Forgotten favourites" in html and "New artists per year" in html
    # Names link to the listener's track and artist pages.
    for item in row.data["forgotten"][:10]:
        assert f'href="{links.track_url(alice.pk, item["name"], item["artist"])}"' in html
        assert f'href="{links.artist_url(alice.pk, item["artist"])}"' in html
    assert client.get(links.track_url(alice.pk, item["name"], item["artist"])).status_code == 200

    services.delete_history(alice)
    page = client.get("/history/discoveries").content.decode()
    assert "Nothing to discover yet" in page


def test_the_discoveries_page_needs_a_login(client):
    response = client.get("/history/discoveries")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_the_discoveries_page_shows_the_numbers(client):
    alice = listener("alice")
    today = insights.today_in(ZoneInfo("UTC"))
    # Today's play too: should midnight pass before the page is read, today is yesterday and
    # the streak is still alive, so the page says the same either way.
    _plays_on(alice, *(_noon(today - timedelta(days=n)) for n in (0, 1, 2, 3, 7)))
    client.force_login(alice)
    html = client.get("/history/discoveries").content.decode()
    assert "<dt>Current streak</dt><dd>4 days" in html
    assert "<dt>Days with plays</dt><dd>5</dd>" in html
    for year in {(today - timedelta(days=n)).year for n in (0, 1, 2, 3, 7)}:
        assert f'<a href="/history/recap/{year}">{year}</a>' in html


def test_the_worker_stores_todays_discoveries_when_an_import_ends_or_the_zone_changes(history):
    alice, _rows = history
    # No page has been viewed: the row is the worker's, so the first view reads it.
    row = PrecomputedSummary.objects.get(user=alice, period__startswith="discoveries:")
    today = date.fromisoformat(row.data["today"])
    assert (row.zone, row.period) == ("UTC", discoveries.period_key(today))
    assert row.stamp == precompute.history_stamp(alice.pk)
    assert row.data == discoveries.compute(alice.pk, tz_name="UTC", today=today)

    precompute.set_zone(alice.pk, "Pacific/Kiritimati")
    tasks.rebuild_summaries.call(alice.pk)

    row = PrecomputedSummary.objects.get(user=alice, period__startswith="discoveries:")
    today = date.fromisoformat(row.data["today"])
    assert (row.zone, row.data["tz"]) == ("Pacific/Kiritimati", "Pacific/Kiritimati")
    assert row.data == discoveries.compute(alice.pk, tz_name="Pacific/Kiritimati", today=today)
