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

import heapq
import re
import unicodedata
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


def _item_rows(cursor, user_id, where, params):
    # Every join says whose names it wants: the lookup tables hold every listener's, and
    # only the listener's own rows may be read (their indexes lead with user_id).
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
        JOIN listening_history_item i ON i.id = p.item_id AND i.user_id = %s
        LEFT JOIN listening_history_artist ar ON ar.id = i.artist_id AND ar.user_id = %s
        LEFT JOIN listening_history_album al ON al.id = i.album_id AND al.user_id = %s
        """,
        [*params, user_id, user_id, user_id],
    )
    return cursor.fetchall()


class _Group:
    """One track, artist, album or show while items fold into it."""

    __slots__ = ("ms", "plays", "spellings", "uris")

    def __init__(self):
        self.plays = 0
        self.ms = 0
        self.spellings = {}
        self.uris = {}

    def add(self, spelling, entries, plays, ms, uri=None):
        self.plays += plays
        self.ms += ms
        spellings = self.spellings
        spellings[spelling] = spellings.get(spelling, 0) + entries
        if uri:
            self.uris[uri] = self.uris.get(uri, 0) + entries

    def spelling(self):
        return _most_frequent(self.spellings)

    def uri(self):
        return _most_frequent(self.uris) if self.uris else None


def _most_frequent(counts):
    """The most frequent key; ties go to the first in code-point order."""
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _by_time(group):
    return (-group.ms, -group.plays)


def _by_plays(group):
    return (-group.plays, -group.ms)


def _top(groups, order, make):
    """The TOP first groups by time (or plays), then the other, then displayed name.

    A half-million-entry history has tens of thousands of tracks: only the groups that can
    reach the top (those ranking no lower than the TOP-th by the numbers alone, ties
    included) get their displayed name worked out and sorted.
    """
    rank = _by_plays if order == "plays" else _by_time
    best = heapq.nsmallest(TOP, groups.values(), key=rank)
    if not best:
        return []
    cutoff = rank(best[-1])
    ranked = sorted(
        ((group, group.spelling()) for group in groups.values() if rank(group) <= cutoff),
        key=lambda gs: (*rank(gs[0]), gs[1]),
    )
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
        rows = _item_rows(cursor, user_id, where, params)
        for entries, item_plays, ms, first, last, kind, track, artist, album, uri, show in rows:
            plays += item_plays
            kind_ms[kind] = kind_ms.get(kind, 0) + ms
            if first is not None and (first_play is None or first < first_play):
                first_play = first
            if last is not None and (last_play is None or last > last_play):
                last_play = last
            if kind == Kind.TRACK:
                artist_key = normalise(artist)
                if track_key := normalise(track):
                    key = (track_key, artist_key)
                    group = tracks.get(key) or tracks.setdefault(key, _Group())
                    group.add((track, artist or ""), entries, item_plays, ms, uri)
                if artist_key:
                    group = artists.get(artist_key) or artists.setdefault(artist_key, _Group())
                    group.add(artist, entries, item_plays, ms)
                if album_key := normalise(album):
                    key = (album_key, artist_key)
                    group = albums.get(key) or albums.setdefault(key, _Group())
                    group.add((album, artist or ""), entries, item_plays, ms)
            elif kind == Kind.EPISODE and (key := normalise(show)):
                group = shows.get(key) or shows.setdefault(key, _Group())
                group.add(show, entries, item_plays, ms)
        unit, start, end = _timeline_span(cursor, where, params, period, tz)
        clock, buckets, habits, months = _breakdowns(cursor, user_id, where, params, tz_name, unit)
    timeline = _timeline(buckets, unit, start, end)
    if items is not None:
        habits = None
    if not period.all_time:
        months = None
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


def _timeline_span(cursor, where, params, period, tz):
    """The timeline's unit (day, week or month by the period's length) and its first and last day.

    For all time the span is the history's own: from its first entry's day to its last's.
    """
    if not period.all_time:
        start, end = period.start, period.end
    else:
        cursor.execute(
            f"SELECT min(e.ts), max(e.ts) FROM listening_history_entry e WHERE {where}", params
        )
        first, last = cursor.fetchone()
        if first is None:
            return "day", None, None
        start, end = first.astimezone(tz).date(), last.astimezone(tz).date()
    return timeline_unit((end - start).days + 1), start, end


def timeline_unit(days):
    if days <= DAYS_FOR_DAILY:
        return "day"
    if days <= DAYS_FOR_WEEKLY:
        return "week"
    return "month"


# The breakdowns of one pass over the period's entries, in GROUPING() bit order.
BREAKDOWNS = ("weekday", "bucket", "month", "platform_id", "conn_country_id", "reason_end_id")
TERMS = ("platform", "conn_country", "reason_end")


def _grouped_by(column):
    """The GROUPING() value of a row of the grouping set of ``column`` (see _breakdowns)."""
    every = (1 << len(BREAKDOWNS)) - 1
    return every ^ (1 << (len(BREAKDOWNS) - 1 - BREAKDOWNS.index(column)))


def _breakdowns(cursor, user_id, where, params, tz_name, unit):
    """The clock, the timeline's buckets, the months and the habits: one pass, many groupings.

    One scan of the period's entries feeds every grouping set (PostgreSQL hashes them side by
    side): weekday x hour, the timeline's bucket, the month, each habit term and the total.
    The inner ``OFFSET 0`` keeps the local time computed once per entry.
    """
    cursor.execute(
        f"""
        SELECT GROUPING(x.weekday, x.bucket, x.month, x.platform_id, x.conn_country_id,
                        x.reason_end_id),
               x.weekday, x.hour, x.bucket, x.month,
               x.platform_id, x.conn_country_id, x.reason_end_id,
               count(*), sum(x.ms_played), count(*) FILTER (WHERE x.ms_played >= {PLAY_MS}),
               count(*) FILTER (WHERE x.skipped IS NOT NULL), count(*) FILTER (WHERE x.skipped),
               count(*) FILTER (WHERE x.shuffle IS NOT NULL), count(*) FILTER (WHERE x.shuffle),
               count(*) FILTER (WHERE x.offline IS NOT NULL), count(*) FILTER (WHERE x.offline)
        FROM (
            SELECT extract(isodow FROM l.local)::int - 1 AS weekday,
                   extract(hour FROM l.local)::int AS hour,
                   date_trunc(%s, l.local)::date AS bucket,
                   date_trunc('month', l.local)::date AS month,
                   l.ms_played, l.platform_id, l.conn_country_id, l.reason_end_id,
                   l.skipped, l.shuffle, l.offline
            FROM (
                SELECT e.ts AT TIME ZONE %s AS local, e.ms_played, e.platform_id,
                       e.conn_country_id, e.reason_end_id, e.skipped, e.shuffle, e.offline
                FROM listening_history_entry e
                WHERE {where}
                OFFSET 0
            ) l
        ) x
        GROUP BY GROUPING SETS ((x.weekday, x.hour), (x.bucket), (x.month), (x.platform_id),
                                (x.conn_country_id), (x.reason_end_id), ())
        """,
        [unit, tz_name, *params],
    )
    clock = [[0] * 24 for _ in range(7)]
    buckets, months, terms = {}, [], {name: [] for name in TERMS}
    shares = (0,) * 6
    for row in cursor.fetchall():
        grouping, weekday, hour, bucket, month = row[:5]
        ids, (entries, ms, plays), counts = row[5:8], row[8:11], row[11:]
        if grouping == _grouped_by("weekday"):
            clock[weekday][hour] = int(ms)
        elif grouping == _grouped_by("bucket"):
            buckets[bucket] = (int(ms), plays)
        elif grouping == _grouped_by("month"):
            months.append(month.strftime("%Y-%m"))
        elif grouping == (1 << len(BREAKDOWNS)) - 1:
            shares = counts
        else:
            for name, term_id in zip(TERMS, ids, strict=True):
                if grouping == _grouped_by(f"{name}_id") and term_id is not None:
                    terms[name].append((term_id, entries, int(ms)))
    return clock, buckets, _habits(cursor, user_id, shares, terms), sorted(months)


def _habits(cursor, user_id, shares, terms):
    """Shares and breakdowns where the export knows them (account data knows none).

    Each breakdown: its 10 biggest terms by entries, then listening time, then name.
    """
    skip_known, skipped, shuffle_known, shuffled, offline_known, offline = shares
    habits = {
        "skip": {"known": skip_known, "yes": skipped},
        "shuffle": {"known": shuffle_known, "yes": shuffled},
        "offline": {"known": offline_known, "yes": offline},
    }
    wanted = [term_id for rows in terms.values() for term_id, _entries, _ms in rows]
    cursor.execute(
        "SELECT id, text FROM listening_history_term WHERE user_id = %s AND id = ANY(%s)",
        [user_id, wanted],
    )
    text = dict(cursor.fetchall())
    for name, rows in terms.items():
        ranked = sorted(
            (
                {"name": text[term_id], "entries": entries, "ms_played": ms}
                for term_id, entries, ms in rows
            ),
            key=lambda row: (-row["entries"], -row["ms_played"], row["name"]),
        )
        habits[name] = ranked[:10]
    return habits


def _timeline(found, unit, start, end):
    """Listening time and plays per day, week or month of the period, gaps filled with zero."""
    if start is None or not found:
        return {"unit": "day", "buckets": []}
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
