"""Links to a listener's artist and track pages: the one place that spells their URLs.

``/history/artist/<id>`` and ``/history/track/<id>``. An id is a short hash of the listener's
own key (``insights.normalise``): an artist's normalised name, a track's normalised name and
artist. So a link is stable (the same however Spotify spelled or linked the name, before and
after a re-import), survives any name (slashes, ``%``, ``?``, ``#``, HTML, unicode, a
thousand characters: the URL holds 16 or 32 hex digits), and means nothing to another
listener: the hash includes the listener's id, so their copy of the URL is a 404.

A track's id starts with its artist's id, which is how ``detail.resolve_track`` finds it
without hashing every track of a big history.

Use ``artist_url(user_id, name)`` / ``track_url(user_id, name, artist)`` in Python, or in a
template ``{% load history_links %}{% artist_url name as url %}`` /
``{% track_url name artist as url %}`` (the signed-in listener's; empty for nobody or for a
name that normalises to nothing). The URL names are ``history:artist`` and ``history:track``.
"""

import hashlib
import re
from dataclasses import dataclass

from django.db import connection
from django.urls import reverse

from listening_history.charts import duration
from listening_history.insights import normalise
from listening_history.models import Kind

ARTIST_ID = re.compile(r"[0-9a-f]{16}")
TRACK_ID = re.compile(r"[0-9a-f]{32}")


def _hash(user_id, *parts):
    text = "\x1f".join([str(user_id), *parts])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artist_key_id(user_id, artist_key):
    """The id of the normalised artist name ``artist_key`` ("" for tracks without one)."""
    return _hash(user_id, "artist", artist_key)


def track_key_id(user_id, track_key, artist_key):
    """The id of the track (``track_key``, ``artist_key``), both normalised."""
    return artist_key_id(user_id, artist_key) + _hash(user_id, "track", track_key, artist_key)


def artist_id(user_id, name):
    """The id of the artist spelled ``name``; None when it normalises to nothing."""
    key = normalise(name)
    return artist_key_id(user_id, key) if key else None


def track_id(user_id, name, artist):
    """The id of the track ``name`` by ``artist``; None when the name normalises to nothing."""
    key = normalise(name)
    return track_key_id(user_id, key, normalise(artist)) if key else None


def artist_url(user_id, name):
    """/history/artist/<id> of the listener's artist ``name``, or None (no such artist)."""
    ident = artist_id(user_id, name)
    return reverse("history:artist", args=[ident]) if ident else None


def track_url(user_id, name, artist):
    """/history/track/<id> of the listener's track ``name`` by ``artist``, or None."""
    ident = track_id(user_id, name, artist)
    return reverse("history:track", args=[ident]) if ident else None


# -- the way back: an id to the listener's items ---------------------------------------


@dataclass(frozen=True)
class Found:
    """What an id names for one listener: its normalised key and the items it gathers."""

    artist_key: str
    items: tuple
    track_key: str | None = None

    @property
    def key(self):
        """The artist's key, or the track's (track key, artist key)."""
        return self.artist_key if self.track_key is None else (self.track_key, self.artist_key)


def _artist_rows(cursor, user_id, ident):
    """(ids of the listener's artist rows whose normalised name has ``ident``, the key)."""
    cursor.execute("SELECT id, name FROM listening_history_artist WHERE user_id = %s", [user_id])
    found, key = [], None
    for pk, name in cursor.fetchall():
        normalised = normalise(name)
        if artist_key_id(user_id, normalised) == ident:
            found.append(pk)
            key = normalised
    return found, key


def find_artist(user_id, ident):
    """The listener's artist of ``ident`` (the items of its tracks), or None."""
    if not ARTIST_ID.fullmatch(ident or ""):
        return None
    with connection.cursor() as cursor:
        artist_rows, key = _artist_rows(cursor, user_id, ident)
        if not key:
            return None
        cursor.execute(
            """
            SELECT id FROM listening_history_item
            WHERE user_id = %s AND kind = %s AND artist_id = ANY(%s)
            """,
            [user_id, Kind.TRACK, artist_rows],
        )
        items = tuple(pk for (pk,) in cursor.fetchall())
    return Found(artist_key=key, items=items) if items else None


def find_track(user_id, ident):
    """The listener's track of ``ident`` (its items, however spelled or linked), or None."""
    if not TRACK_ID.fullmatch(ident or ""):
        return None
    with connection.cursor() as cursor:
        artist_rows, key = _artist_rows(cursor, user_id, ident[:16])
        # A track without an artist: no artist row, or one that normalises to nothing.
        no_artist = artist_key_id(user_id, "") == ident[:16]
        if key is None and not no_artist:
            return None
        cursor.execute(
            """
            SELECT id, track_name FROM listening_history_item
            WHERE user_id = %s AND kind = %s
              AND (artist_id = ANY(%s) OR (%s AND artist_id IS NULL))
            """,
            [user_id, Kind.TRACK, artist_rows, no_artist],
        )
        artist_key = key or ""
        items, track_key = [], None
        for pk, name in cursor.fetchall():
            normalised = normalise(name)
            if normalised and track_key_id(user_id, normalised, artist_key) == ident:
                items.append(pk)
                track_key = normalised
    if not items:
        return None
    return Found(artist_key=artist_key, items=tuple(items), track_key=track_key)


def linked_items(top, kind, user_id):
    """A top list (``kind`` is tracks, artists, albums or shows) as the pages show it: the
    time written out and, when ``user_id`` is given, links to that listener's pages (a shared
    recap passes None: its names are plain)."""
    items = []
    for item in top:
        url = artist_link = None
        if user_id is not None:
            if kind == "tracks":
                url = track_url(user_id, item["name"], item["artist"])
            elif kind == "artists":
                url = artist_url(user_id, item["name"])
            if kind in ("tracks", "albums"):
                artist_link = artist_url(user_id, item["artist"])
        items.append(
            {
                **item,
                "duration": duration(item["ms_played"]),
                "url": url,
                "artist_url": artist_link,
            }
        )
    return items
