"""What a listener's history says: the one computation behind /history and summary.json.

Definitions (issue 17; the page states the ones a number could mislead on):

- A *play* is an entry with ``ms_played`` >= 30,000; *listening time* sums ``ms_played`` over
  every entry. Music, podcasts, audiobooks and other (kind ``unknown``) split it exactly.
- An entry belongs wholly to the instant of its ``ts`` (when it ended).
- A *track* is its track name + artist name, each normalised (:func:`normalise`); an entry
  without a track name is no track. Its ``uri`` is the most frequent URI among its entries that
  have one (ties: code-point order), its displayed name and artist the most frequent spelling
  among the period's entries (ties: code-point order). An *artist* is its normalised name, an
  *album* its normalised name + artist (no album name, no album), a *show* a podcast's
  normalised show name.
- A period is whole days in the listener's zone, half-open: ``[from 00:00, to + 1 day 00:00)``.

The aggregation runs in PostgreSQL: one ``GROUP BY`` of the period's entries per item (joined
to the lookup tables), one per (weekday, hour), one per timeline bucket, one per habit term.
Items then fold into tracks, artists, albums and shows in Python: PostgreSQL has no full case
folding (``lower('ß')`` is ``ß``), and the rows are per item, not per entry.
"""

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.db import connection

from listening_history.models import Kind

PLAY_MS = 30_000
TOP = 25
SHOWN = 10
# Timeline buckets by the period's length (days).
DAYS_FOR_DAILY = 62
DAYS_FOR_WEEKLY = 731


class BadRequest(ValueError):
    """A malformed parameter; the message is for the listener (a 400)."""


@lru_cache(maxsize=65536)
def normalise(text):
    """NFC, full case folding (ß = ss), every run of Unicode whitespace one space, trimmed."""
    if text is None:
        return ""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return " ".join(folded.split())


@lru_cache(maxsize=1)
def zone_names():
    return frozenset(available_timezones())


def zone(name):
    """The ZoneInfo for ``name``; raises BadRequest for anything zoneinfo does not know."""
    if not isinstance(name, str) or name not in zone_names():
        raise BadRequest(f"Unknown time zone: {str(name)[:64]!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:  # pragma: no cover - listed names load
        raise BadRequest(f"Unknown time zone: {name!r}.") from error


@dataclass(frozen=True)
class Period:
    """Whole days in a zone: ``start``..``end`` inclusive, both None for all time."""

    start: date | None = None
    end: date | None = None

    @property
    def all_time(self):
        return self.start is None

    def bounds(self, tz):
        """[lower, upper) in UTC, or (None, None) for all time."""
        if self.all_time:
            return None, None
        return midnight(self.start, tz), midnight(self.end + timedelta(days=1), tz)


def midnight(day, tz):
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def parse_date(value, name):
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise BadRequest(f"{name} must be a date like 2024-03-31.")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise BadRequest(f"{name} must be a date like 2024-03-31.") from error


def parse_period(params, *, today):
    """The period of the query ``params`` (``from``, ``to``); raises BadRequest."""
    start = parse_date(params.get("from"), "from")
    end = parse_date(params.get("to"), "to")
    if start is None and end is None:
        return Period()
    if start is None:
        start = date(1970, 1, 1)
    if end is None:
        end = max(today, start)
    if start > end:
        raise BadRequest("from must not be after to.")
    return Period(start, end)


def parse_order(value):
    if value in (None, "", "time"):
        return "time"
    if value == "plays":
        return "plays"
    raise BadRequest("order must be time or plays.")


def last_12_months(today):
    """The preset 'last 12 months': the 365 days ending today."""
    return Period(today - timedelta(days=364), today)


def today_in(tz, now=None):
    return (now or datetime.now(UTC)).astimezone(tz).date()


# -- the computation ------------------------------------------------------------------


def _where(user_id, lower, upper, items=None):
    sql, params = "e.user_id = %s", [user_id]
    if lower is not None:
        sql += " AND e.ts >= %s AND e.ts < %s"
        params += [lower, upper]
    if items is not None:
        sql += " AND e.item_id = ANY(%s)"
        params.append(list(items))
    return sql, params


def _item_rows(cursor, where, params):
    cursor.execute(
        f"""
        WITH per_item AS (
            SELECT e.item_id,
                   count(*) AS entries,
                   count(*) FILTER (WHERE e.ms_played >= {PLAY_MS}) AS plays,
                   sum(e.ms_played) AS ms,
                   min(e.ts) FILTER (WHERE e.ms_played >= {PLAY_MS}) AS first_play,
                   max(e.ts) FILTER (WHERE e.ms_played >= {PLAY_MS}) AS last_play
            FROM listening_history_entry e
            WHERE {where}
            GROUP BY e.item_id
        )
        SELECT p.entries, p.plays, p.ms, p.first_play, p.last_play,
               i.kind, i.track_name, ar.name, al.name, i.track_uri, i.show_name
        FROM per_item p
        JOIN listening_history_item i ON i.id = p.item_id
        LEFT JOIN listening_history_artist ar ON ar.id = i.artist_id
        LEFT JOIN listening_history_album al ON al.id = i.album_id
        """,
        params,
    )
    return cursor.fetchall()


class _Group:
    """One track, artist, album or show while items fold into it."""

    __slots__ = ("ms", "plays", "spellings", "uris")

    def __init__(self):
        self.plays = 0
        self.ms = 0
        self.spellings = defaultdict(int)
        self.uris = defaultdict(int)

    def add(self, spelling, entries, plays, ms, uri=None):
        self.plays += plays
        self.ms += ms
        self.spellings[spelling] += entries
        if uri:
            self.uris[uri] += entries

    def spelling(self):
        return _most_frequent(self.spellings)

    def uri(self):
        return _most_frequent(self.uris) if self.uris else None


def _most_frequent(counts):
    """The most frequent key; ties go to the first in code-point order."""
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _top(groups, order, make):
    ranked = []
    for group in groups.values():
        spelling = group.spelling()
        ranked.append((group, spelling))
    if order == "plays":
        ranked.sort(key=lambda gs: (-gs[0].plays, -gs[0].ms, gs[1]))
    else:
        ranked.sort(key=lambda gs: (-gs[0].ms, -gs[0].plays, gs[1]))
    return [make(group, spelling) for group, spelling in ranked[:TOP]]


def _iso(moment):
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(user_id, *, tz_name="UTC", period=Period(), order="time"):
    """Everything /history shows for ``user_id``'s ``period`` in the zone ``tz_name``.

    The keys of :data:`SUMMARY_FIELDS` are summary.json's answer; ``timeline``,
    ``habits`` and ``months`` feed the page.
    """
    return _summary(user_id, tz_name=tz_name, period=period, order=order)[0]


def detail(user_id, *, items, tz_name="UTC", period=Period(), order="time"):
    """:func:`summary` of the entries of ``items`` only (an artist's or a track's items).

    The same computation and definitions as /history, without ``habits``; ``months`` are
    always the months with entries of ``items`` (for the period picker), and ``merged`` says
    how the period's entries of each track wrote and linked it: ``[{"track": track key,
    "artist": artist key, "spellings": [[name, artist, entries]], "uris": [[uri, entries]]}]``,
    most frequent first (ties by code-point order). Plain JSON, as stored.
    """
    data, groups = _summary(user_id, tz_name=tz_name, period=period, order=order, items=items)
    if data["months"] is None:
        where, params = _where(user_id, None, None, items)
        with connection.cursor() as cursor:
            data["months"] = _months(cursor, where, params, tz_name)
    data["merged"] = [
        {
            "track": track_key,
            "artist": artist_key,
            "spellings": [[*spelling, n] for spelling, n in _by_count(group.spellings)],
            "uris": [[uri, n] for uri, n in _by_count(group.uris)],
        }
        for (track_key, artist_key), group in sorted(groups["tracks"].items())
    ]
    return data


def _by_count(counts):
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _summary(user_id, *, tz_name, period, order, items=None):
    """(summary, the track, artist, album and show groups); ``items`` restricts the entries."""
    tz = zone(tz_name)
    lower, upper = period.bounds(tz)
    where, params = _where(user_id, lower, upper, items)
    kind_ms = {Kind.TRACK: 0, Kind.EPISODE: 0, Kind.CHAPTER: 0, Kind.UNKNOWN: 0}
    tracks, artists, albums, shows = {}, {}, {}, {}
    plays = 0
    first_play = last_play = None
    with connection.cursor() as cursor:
        rows = _item_rows(cursor, where, params)
        for entries, item_plays, ms, first, last, kind, track, artist, album, uri, show in rows:
            plays += item_plays
            kind_ms[kind] = kind_ms.get(kind, 0) + ms
            if first is not None and (first_play is None or first < first_play):
                first_play = first
            if last is not None and (last_play is None or last > last_play):
                last_play = last
            if kind == Kind.TRACK:
                artist_key = normalise(artist)
                if track is not None and normalise(track):
                    key = (normalise(track), artist_key)
                    group = tracks.get(key) or tracks.setdefault(key, _Group())
                    group.add((track, artist or ""), entries, item_plays, ms, uri)
                if artist_key:
                    group = artists.get(artist_key) or artists.setdefault(artist_key, _Group())
                    group.add(artist, entries, item_plays, ms)
                if album is not None and normalise(album):
                    key = (normalise(album), artist_key)
                    group = albums.get(key) or albums.setdefault(key, _Group())
                    group.add((album, artist or ""), entries, item_plays, ms)
            elif kind == Kind.EPISODE and show is not None and normalise(show):
                key = normalise(show)
                group = shows.get(key) or shows.setdefault(key, _Group())
                group.add(show, entries, item_plays, ms)
        clock = _clock(cursor, where, params, tz_name)
        timeline = _timeline(cursor, where, params, tz_name, period, first_play, last_play, tz)
        habits = _habits(cursor, where, params) if items is None else None
        months = _months(cursor, where, params, tz_name) if period.all_time else None
    ms_played = sum(kind_ms.values())
    result = {
        "from": period.start.isoformat() if period.start else None,
        "to": period.end.isoformat() if period.end else None,
        "tz": tz_name,
        "plays": plays,
        "ms_played": ms_played,
        "music_ms": kind_ms[Kind.TRACK],
        "podcast_ms": kind_ms[Kind.EPISODE],
        "audiobook_ms": kind_ms[Kind.CHAPTER],
        "other_ms": kind_ms[Kind.UNKNOWN],
        "tracks": len(tracks),
        "artists": len(artists),
        "albums": len(albums),
        "shows": len(shows),
        "first_play": _iso(first_play),
        "last_play": _iso(last_play),
        "top_tracks": _top(
            tracks,
            order,
            lambda g, s: {
                "name": s[0],
                "artist": s[1],
                "uri": g.uri(),
                "plays": g.plays,
                "ms_played": g.ms,
            },
        ),
        "top_artists": _top(
            artists, order, lambda g, s: {"name": s, "plays": g.plays, "ms_played": g.ms}
        ),
        "top_albums": _top(
            albums,
            order,
            lambda g, s: {"name": s[0], "artist": s[1], "plays": g.plays, "ms_played": g.ms},
        ),
        "top_shows": _top(
            shows, order, lambda g, s: {"name": s, "plays": g.plays, "ms_played": g.ms}
        ),
        "clock": clock,
        "timeline": timeline,
        "habits": habits,
        "months": months,
    }
    return result, {"tracks": tracks, "artists": artists, "albums": albums, "shows": shows}


SUMMARY_FIELDS = (
    "from",
    "to",
    "tz",
    "plays",
    "ms_played",
    "music_ms",
    "podcast_ms",
    "audiobook_ms",
    "other_ms",
    "tracks",
    "artists",
    "albums",
    "shows",
    "first_play",
    "last_play",
    "top_tracks",
    "top_artists",
    "top_albums",
    "top_shows",
    "clock",
)


def summary_json(data):
    return {field: data[field] for field in SUMMARY_FIELDS}


def _clock(cursor, where, params, tz_name):
    cursor.execute(
        f"""
        SELECT extract(isodow FROM e.ts AT TIME ZONE %s)::int - 1 AS weekday,
               extract(hour FROM e.ts AT TIME ZONE %s)::int AS hour,
               sum(e.ms_played)
        FROM listening_history_entry e
        WHERE {where}
        GROUP BY 1, 2
        """,
        [tz_name, tz_name, *params],
    )
    clock = [[0] * 24 for _ in range(7)]
    for weekday, hour, ms in cursor.fetchall():
        clock[weekday][hour] = int(ms)
    return clock


def timeline_unit(days):
    if days <= DAYS_FOR_DAILY:
        return "day"
    if days <= DAYS_FOR_WEEKLY:
        return "week"
    return "month"


def _timeline(cursor, where, params, tz_name, period, first_play, last_play, tz):
    """Listening time and plays per day, week or month of the period, gaps filled with zero."""
    cursor.execute(
        f"SELECT min(e.ts), max(e.ts) FROM listening_history_entry e WHERE {where}", params
    )
    first, last = cursor.fetchone()
    if first is None:
        return {"unit": "day", "buckets": []}
    if period.all_time:
        start, end = first.astimezone(tz).date(), last.astimezone(tz).date()
    else:
        start, end = period.start, period.end
    unit = timeline_unit((end - start).days + 1)
    cursor.execute(
        f"""
        SELECT date_trunc(%s, e.ts AT TIME ZONE %s)::date AS bucket,
               sum(e.ms_played),
               count(*) FILTER (WHERE e.ms_played >= {PLAY_MS})
        FROM listening_history_entry e
        WHERE {where}
        GROUP BY 1
        """,
        [unit, tz_name, *params],
    )
    found = {bucket: (int(ms), plays) for bucket, ms, plays in cursor.fetchall()}
    buckets = []
    day = _bucket_start(start, unit)
    while day <= end:
        ms, plays = found.get(day, (0, 0))
        buckets.append({"start": day.isoformat(), "ms_played": ms, "plays": plays})
        day = _next_bucket(day, unit)
    return {"unit": unit, "buckets": buckets}


def _bucket_start(day, unit):
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _next_bucket(day, unit):
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    return next_month(day)


def next_month(day):
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _habits(cursor, where, params):
    """Shares and breakdowns where the export knows them (account data knows none)."""
    cursor.execute(
        f"""
        SELECT count(*) FILTER (WHERE e.skipped IS NOT NULL),
               count(*) FILTER (WHERE e.skipped),
               count(*) FILTER (WHERE e.shuffle IS NOT NULL),
               count(*) FILTER (WHERE e.shuffle),
               count(*) FILTER (WHERE e.offline IS NOT NULL),
               count(*) FILTER (WHERE e.offline)
        FROM listening_history_entry e
        WHERE {where}
        """,
        params,
    )
    skip_known, skipped, shuffle_known, shuffled, offline_known, offline = cursor.fetchone()
    habits = {
        "skip": {"known": skip_known, "yes": skipped},
        "shuffle": {"known": shuffle_known, "yes": shuffled},
        "offline": {"known": offline_known, "yes": offline},
    }
    for name in ("platform", "conn_country", "reason_end"):
        cursor.execute(
            f"""
            SELECT t.text, count(*) AS entries, sum(e.ms_played) AS ms
            FROM listening_history_entry e
            JOIN listening_history_term t ON t.id = e.{name}_id
            WHERE {where}
            GROUP BY t.text
            ORDER BY entries DESC, ms DESC, t.text
            LIMIT 10
            """,
            params,
        )
        habits[name] = [
            {"name": text, "entries": entries, "ms_played": int(ms)}
            for text, entries, ms in cursor.fetchall()
        ]
    return habits


def _months(cursor, where, params, tz_name):
    """The months (YYYY-MM) with entries, for the period picker's presets."""
    cursor.execute(
        f"""
        SELECT DISTINCT to_char(date_trunc('month', e.ts AT TIME ZONE %s), 'YYYY-MM')
        FROM listening_history_entry e
        WHERE {where}
        ORDER BY 1
        """,
        [tz_name, *params],
    )
    return [month for (month,) in cursor.fetchall()]
