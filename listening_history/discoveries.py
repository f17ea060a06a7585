"""Discoveries and yearly recaps: what a listener's whole history says beyond one period.

Same definitions as :mod:`listening_history.insights` (a play is >= 30 s, tracks and artists
by their normalised names, days in the listener's zone), folded by the same code
(``insights.normalise``, its groups and its ranking), so that a year's top tracks here are the
year's top tracks on /history.

- **Forgotten favourites**: tracks among the top 50 (by listening time, as /history ranks) of
  a year before the current one, with no play in the last 6 months (the 183 days ending today,
  like "the last 12 months" is the 365 days ending today). Each track once, at its best rank.
- **New artists per year**: artists whose first play ever falls in that year (in the zone).
- **Streaks**: runs of consecutive days with at least one play. The current streak is alive
  when its last day is today or yesterday.

Everything here reads the listener's whole history (three aggregations), so the result is
stored like a preset summary (``PrecomputedSummary``, keyed by the day: forgotten favourites
and the current streak move with it) and computed again when the history or the zone changes.
"""

import itertools
from datetime import date, timedelta

from django.db import connection

from listening_history import insights, precompute
from listening_history.insight_models import PrecomputedSummary
from listening_history.insights import PLAY_MS, Period
from listening_history.models import Kind

FAVOURITES_TOP = 50
QUIET_DAYS = 183
LISTED = insights.TOP
# Bump when the stored shape changes: old rows are then never served.
VERSION = 1


# -- streaks --------------------------------------------------------------------------


def runs(days):
    """The runs of consecutive dates in the sorted, distinct ``days``: [(first, last), ...]."""
    found = []
    for _key, run in itertools.groupby(enumerate(days), lambda pair: pair[1].toordinal() - pair[0]):
        run = [day for _index, day in run]
        found.append((run[0], run[-1]))
    return found


def _streak(first, last):
    return {"start": first.isoformat(), "end": last.isoformat(), "days": (last - first).days + 1}


def longest_streak(days):
    """The longest run of ``days`` as {start, end, days} (the earliest of equals); None if none."""
    best = None
    for first, last in runs(days):
        if best is None or (last - first) > (best[1] - best[0]):
            best = (first, last)
    return _streak(*best) if best else None


def current_streak(days, today):
    """The run ending today or yesterday, or None: a day without a play has broken it."""
    found = runs(days)
    if found and found[-1][1] >= today - timedelta(days=1):
        return _streak(*found[-1])
    return None


def play_days(cursor, user_id, tz_name):
    """The sorted local dates (in ``tz_name``) with at least one play."""
    cursor.execute(
        f"""
        SELECT DISTINCT (e.ts AT TIME ZONE %s)::date
        FROM listening_history_entry e
        WHERE e.user_id = %s AND e.ms_played >= {PLAY_MS}
        ORDER BY 1
        """,
        [tz_name, user_id],
    )
    return [day for (day,) in cursor.fetchall()]


# -- new artists ----------------------------------------------------------------------


def _artist_firsts(cursor, user_id):
    """{normalised artist: (displayed name, first play as UTC datetime)} for played artists.

    The displayed name is the most frequent spelling over all the listener's entries.
    """
    cursor.execute(
        f"""
        WITH per_item AS (
            SELECT e.item_id,
                   count(*) AS entries,
                   min(e.ts) FILTER (WHERE e.ms_played >= {PLAY_MS}) AS first_play
            FROM listening_history_entry e
            WHERE e.user_id = %s
            GROUP BY e.item_id
        )
        SELECT ar.name, sum(p.entries)::bigint, min(p.first_play)
        FROM per_item p
        JOIN listening_history_item i ON i.id = p.item_id
        JOIN listening_history_artist ar ON ar.id = i.artist_id
        WHERE i.kind = %s
        GROUP BY ar.name
        """,
        [user_id, Kind.TRACK],
    )
    groups = {}
    for name, entries, first in cursor.fetchall():
        key = insights.normalise(name)
        if not key:
            continue
        group = groups.setdefault(key, {"spellings": {}, "first": None})
        group["spellings"][name] = group["spellings"].get(name, 0) + entries
        if first is not None and (group["first"] is None or first < group["first"]):
            group["first"] = first
    return {
        key: (insights._most_frequent(group["spellings"]), group["first"])
        for key, group in groups.items()
        if group["first"] is not None
    }


def new_artists(cursor, user_id, tz_name):
    """[{year, count, artists: [{name, first_play}] (the first LISTED, in order of discovery)}]."""
    tz = insights.zone(tz_name)
    per_year = {}
    for name, first in _artist_firsts(cursor, user_id).values():
        per_year.setdefault(first.astimezone(tz).year, []).append((first, name))
    years = []
    for year in sorted(per_year):
        found = sorted(per_year[year])
        years.append(
            {
                "year": year,
                "count": len(found),
                "artists": [
                    {"name": name, "first_play": insights._iso(first)}
                    for first, name in found[:LISTED]
                ],
            }
        )
    return years


# -- forgotten favourites -------------------------------------------------------------


def _tracks_per_year(cursor, user_id, tz_name):
    """({year: {track key: group}}, {track key: last play}) over the whole history."""
    cursor.execute(
        f"""
        WITH per_item AS (
            SELECT e.item_id,
                   extract(year FROM e.ts AT TIME ZONE %s)::int AS year,
                   count(*) AS entries,
                   count(*) FILTER (WHERE e.ms_played >= {PLAY_MS}) AS plays,
                   sum(e.ms_played) AS ms,
                   max(e.ts) FILTER (WHERE e.ms_played >= {PLAY_MS}) AS last_play
            FROM listening_history_entry e
            WHERE e.user_id = %s
            GROUP BY 1, 2
        )
        SELECT p.year, p.entries, p.plays, p.ms, p.last_play, i.track_name, ar.name, i.track_uri
        FROM per_item p
        JOIN listening_history_item i ON i.id = p.item_id
        LEFT JOIN listening_history_artist ar ON ar.id = i.artist_id
        WHERE i.kind = %s AND i.track_name IS NOT NULL
        """,
        [tz_name, user_id, Kind.TRACK],
    )
    years, last_plays = {}, {}
    for year, entries, plays, ms, last, track, artist, uri in cursor.fetchall():
        name = insights.normalise(track)
        if not name:
            continue
        key = (name, insights.normalise(artist))
        groups = years.setdefault(year, {})
        group = groups.get(key) or groups.setdefault(key, insights._Group())
        group.add((track, artist or ""), entries, plays, int(ms), uri)
        if last is not None and (key not in last_plays or last > last_plays[key]):
            last_plays[key] = last
    return years, last_plays


def top_tracks_of(groups, count):
    """[(key, group, spelling)] ranked as /history ranks by listening time."""
    ranked = [(key, group, group.spelling()) for key, group in groups.items()]
    ranked.sort(key=lambda kgs: (-kgs[1].ms, -kgs[1].plays, kgs[2]))
    return ranked[:count]


def forgotten_favourites(cursor, user_id, tz_name, today):
    """(the first LISTED forgotten favourites, how many there are)."""
    tz = insights.zone(tz_name)
    quiet_since = insights.midnight(today - timedelta(days=QUIET_DAYS - 1), tz)
    years, last_plays = _tracks_per_year(cursor, user_id, tz_name)
    best = {}
    for year in sorted(years, reverse=True):
        if year >= today.year:
            continue
        for rank, (key, group, spelling) in enumerate(
            top_tracks_of(years[year], FAVOURITES_TOP), start=1
        ):
            last = last_plays.get(key)
            if last is not None and last >= quiet_since:
                continue
            if key not in best or rank < best[key]["rank"]:
                best[key] = {
                    "name": spelling[0],
                    "artist": spelling[1],
                    "uri": group.uri(),
                    "year": year,
                    "rank": rank,
                    "ms_played": group.ms,
                    "plays": group.plays,
                    "last_play": insights._iso(last),
                }
    found = sorted(best.values(), key=lambda t: (t["rank"], -t["year"], t["name"], t["artist"]))
    return found[:LISTED], len(found)


# -- everything, stored ---------------------------------------------------------------


def compute(user_id, *, tz_name="UTC", today):
    """Forgotten favourites, new artists per year, streaks and the years with plays."""
    insights.zone(tz_name)
    with connection.cursor() as cursor:
        days = play_days(cursor, user_id, tz_name)
        forgotten, forgotten_count = forgotten_favourites(cursor, user_id, tz_name, today)
        artists = new_artists(cursor, user_id, tz_name)
    return {
        "tz": tz_name,
        "today": today.isoformat(),
        "years": sorted({day.year for day in days}),
        "days_with_plays": len(days),
        "longest_streak": longest_streak(days),
        "current_streak": current_streak(days, today),
        "new_artists": artists,
        "forgotten": forgotten,
        "forgotten_count": forgotten_count,
    }


def period_key(today):
    return f"discoveries:{VERSION}:{today.isoformat()}"


def get(user_id, *, zone_name, today):
    """:func:`compute`, from its stored row when the history, zone and day are the same."""
    stamp = precompute.history_stamp(user_id)
    key = period_key(today)
    row = (
        PrecomputedSummary.objects.filter(
            user_id=user_id, zone=zone_name, period=key, order="time", stamp=stamp
        )
        .values_list("data", flat=True)
        .first()
    )
    if row is not None:
        return row
    data = compute(user_id, tz_name=zone_name, today=today)
    # Yesterday's row answers nothing any more.
    PrecomputedSummary.objects.filter(user_id=user_id, period__startswith="discoveries:").exclude(
        period=key
    ).delete()
    precompute._store(user_id, zone_name, key, "time", stamp, data)
    return data


def rebuild(user_id):
    """Store today's discoveries in the listener's zone (the worker, after the history or
    the zone changed), so that the page's first view reads a stored row: computing them
    takes about a second on half a million entries."""
    zone_name = precompute.zone_of(user_id) or precompute.DEFAULT_ZONE
    return get(user_id, zone_name=zone_name, today=insights.today_in(insights.zone(zone_name)))


# -- one year --------------------------------------------------------------------------


def year_days(cursor, user_id, tz_name, year):
    """[(local date, ms_played, plays)] of every day of ``year`` with entries, in date order."""
    period = year_period(year)
    where, params = insights._where(user_id, *period.bounds(insights.zone(tz_name)))
    cursor.execute(
        f"""
        SELECT (e.ts AT TIME ZONE %s)::date, sum(e.ms_played),
               count(*) FILTER (WHERE e.ms_played >= {PLAY_MS})
        FROM listening_history_entry e
        WHERE {where}
        GROUP BY 1
        ORDER BY 1
        """,
        [tz_name, *params],
    )
    return [(day, int(ms), plays) for day, ms, plays in cursor.fetchall()]


def year_period(year):
    return Period(date(year, 1, 1), date(year, 12, 31))


def year_highlights(user_id, *, tz_name, year):
    """The recap's own numbers: top month and busiest day (by listening time, the earliest
    of equals) and the year's longest streak (its days within the year)."""
    with connection.cursor() as cursor:
        days = year_days(cursor, user_id, tz_name, year)
    months = {}
    for day, ms, plays in days:
        month = months.setdefault(day.month, [0, 0])
        month[0] += ms
        month[1] += plays
    top_month = min(months.items(), key=lambda kv: (-kv[1][0], kv[0]), default=None)
    busiest = min(days, key=lambda d: (-d[1], d[0]), default=None)
    return {
        "top_month": (
            {
                "month": f"{year}-{top_month[0]:02d}",
                "ms_played": top_month[1][0],
                "plays": top_month[1][1],
            }
            if top_month
            else None
        ),
        "busiest_day": (
            {"day": busiest[0].isoformat(), "ms_played": busiest[1], "plays": busiest[2]}
            if busiest
            else None
        ),
        "longest_streak": longest_streak([day for day, _ms, plays in days if plays]),
    }
