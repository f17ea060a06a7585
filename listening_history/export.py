"""A listener's whole history back out: CSV, and JSON in Spotify's extended streaming history shape.

Both are generators of bytes for a StreamingHttpResponse: the entries are read in chunks of about
CHUNK_ROWS, so memory holds one chunk whatever the history's size.

Chunks are keyset pages on ``ts`` (each chunk is every entry with ``after < ts <= bound``, where
``bound`` is the ts of the CHUNK_ROWS-th entry after ``after``), not a server-side cursor: each
query is a short transaction of its own, which works through a transaction-pooling PgBouncer
(a named cursor outside a transaction does not) and holds no snapshot open while a slow client
downloads. A chunk always ends at a change of ``ts``, so the order within one ``ts`` (``ms_played``,
then the item) is decided by one query. An import merged during a download shows its entries from
the chunk the download had reached.

The order: ``ts``, then ``ms_played``, then the item's URI, then (items without one last) its
names (track, artist, album, episode, show, audiobook, chapter), all in code-point order.
"""

import csv
import io
import json

from django.db import connection, transaction

from listening_history.models import Kind, Source

CHUNK_ROWS = 5000

CSV_COLUMNS = (
    "ts",
    "ms_played",
    "kind",
    "track_name",
    "artist_name",
    "album_name",
    "spotify_track_uri",
    "episode_name",
    "show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_chapter_title",
    "spotify_audiobook_uri",
    "spotify_audiobook_chapter_uri",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "incognito_mode",
    "platform",
    "conn_country",
    "source",
)

# Spotify's own key names and order (2024 and later files), without the personal keys
# Euterpe never stores (ip_addr, username, ip_addr_decrypted, user_agent_decrypted).
# offline_timestamp is not stored either: it goes out as null, as Spotify writes "none".
JSON_KEYS = (
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)

KIND_NAMES = {
    Kind.TRACK: "track",
    Kind.EPISODE: "episode",
    Kind.CHAPTER: "audiobook",
    Kind.UNKNOWN: "unknown",
}
SOURCE_NAMES = {
    Source.EXTENDED: "extended",
    Source.ACCOUNT_DATA: "account_data",
    Source.SYNC: "sync",
}
BOOLEAN_TEXT = {True: "true", False: "false", None: ""}

# The columns of one chunk, in this order (ts twice: as text for the file, as a timestamp
# for the next page).
_CHUNK_SQL = """
    SELECT to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), e.ms_played, i.kind,
           i.track_name, a.name, al.name, i.track_uri, i.episode_name, i.show_name,
           i.episode_uri, i.audiobook_title, i.chapter_title, i.audiobook_uri, i.chapter_uri,
           rs.text, re.text, e.shuffle, e.skipped, e.offline, e.incognito_mode, p.text, c.text,
           e.source, e.ts
    FROM listening_history_entry e
    JOIN listening_history_item i ON i.id = e.item_id AND i.user_id = %(user)s
    LEFT JOIN listening_history_artist a ON a.id = i.artist_id
    LEFT JOIN listening_history_album al ON al.id = i.album_id
    LEFT JOIN listening_history_term p ON p.id = e.platform_id
    LEFT JOIN listening_history_term c ON c.id = e.conn_country_id
    LEFT JOIN listening_history_term rs ON rs.id = e.reason_start_id
    LEFT JOIN listening_history_term re ON re.id = e.reason_end_id
    WHERE e.user_id = %(user)s AND e.ts > %(after)s AND e.ts <= coalesce(
        (SELECT b.ts FROM listening_history_entry b
         WHERE b.user_id = %(user)s AND b.ts > %(after)s
         ORDER BY b.ts OFFSET %(offset)s LIMIT 1),
        'infinity')
    ORDER BY e.ts, e.ms_played,
        CASE i.kind WHEN 1 THEN i.track_uri WHEN 2 THEN i.episode_uri WHEN 3 THEN i.chapter_uri
        END COLLATE "C" NULLS LAST,
        i.track_name COLLATE "C" NULLS FIRST, a.name COLLATE "C" NULLS FIRST,
        al.name COLLATE "C" NULLS FIRST, i.episode_name COLLATE "C" NULLS FIRST,
        i.show_name COLLATE "C" NULLS FIRST, i.audiobook_title COLLATE "C" NULLS FIRST,
        i.chapter_title COLLATE "C" NULLS FIRST
"""
# The row's columns up to (not including) source and the raw ts.
_FIELDS = len(CSV_COLUMNS) - 1


def entry_chunks(user_id, *, chunk_rows=CHUNK_ROWS):
    """Yield lists of the listener's entries in export order, about ``chunk_rows`` at a time.

    Each row is a tuple: the CSV columns in order (ts as text, kind and source as numbers,
    booleans as Python values), then the stored ts.
    """
    after = "-infinity"
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            # Until the table is analyzed after a big import (autovacuum takes a minute),
            # PostgreSQL guesses a listener has a few hundred entries and bounds each chunk
            # with a bitmap scan and a sort of everything after it: quadratic, 66 ms a chunk
            # half way through 500,000 entries instead of 1. Without bitmap scans it walks
            # the primary key in order, the plan it picks anyway once it knows. SET LOCAL
            # ends with the transaction (through a transaction pooler too).
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(_CHUNK_SQL, {"user": user_id, "after": after, "offset": chunk_rows - 1})
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][-1]


def csv_bytes(user_id, *, chunk_rows=CHUNK_ROWS):
    """The CSV file (RFC 4180: CRLF, fields quoted when they must be; UTF-8, no BOM) in pieces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    boolean, kinds, sources = BOOLEAN_TEXT, KIND_NAMES, SOURCE_NAMES
    for rows in entry_chunks(user_id, chunk_rows=chunk_rows):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(
            (
                *row[:2],
                kinds[row[2]],
                *row[3:16],
                boolean[row[16]],
                boolean[row[17]],
                boolean[row[18]],
                boolean[row[19]],
                row[20],
                row[21],
                sources[row[22]],
            )
            for row in rows
        )
        yield buffer.getvalue().encode()


def json_bytes(user_id, *, chunk_rows=CHUNK_ROWS):
    """One JSON list of extended-history entries, one chunk's entries per piece."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    opened = False
    for rows in entry_chunks(user_id, chunk_rows=chunk_rows):
        # One entry a line, so the file greps and diffs well.
        text = ",\n".join([encode(_extended(row)) for row in rows])
        yield (",\n" if opened else "[\n").encode() + text.encode()
        opened = True
    yield b"\n]\n" if opened else b"[]\n"


def _extended(row):
    (
        ts,
        ms_played,
        _kind,
        track,
        artist,
        album,
        track_uri,
        episode,
        show,
        episode_uri,
        book,
        chapter,
        book_uri,
        chapter_uri,
        reason_start,
        reason_end,
        shuffle,
        skipped,
        offline,
        incognito,
        platform,
        country,
    ) = row[:_FIELDS]
    return {
        "ts": ts,
        "platform": platform,
        "ms_played": ms_played,
        "conn_country": country,
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": album,
        "spotify_track_uri": track_uri,
        "episode_name": episode,
        "episode_show_name": show,
        "spotify_episode_uri": episode_uri,
        "audiobook_title": book,
        "audiobook_uri": book_uri,
        "audiobook_chapter_uri": chapter_uri,
        "audiobook_chapter_title": chapter,
        "reason_start": reason_start,
        "reason_end": reason_end,
        "shuffle": shuffle,
        "skipped": skipped,
        "offline": offline,
        "offline_timestamp": None,
        "incognito_mode": incognito,
    }
