"""The one matcher: which entries from different sources are the same play.

Every source of history (the extended export, the account-data export, and the
Web API sync) goes through this module: :func:`merge` for an import, :func:`resync`
for what the sync read. Three rules:

- **Identity** (exact): the same listener, end time, ``ms_played`` and item
  (URI, else names). The entries table's primary key is that identity, so an
  exact duplicate can never be stored twice.
- **Across sources** (fuzzy): entries of different sources are the same play
  when their end times are within WINDOW, their ``ms_played`` are equal and
  their creator and title are equal as written (``Item.match_key``). Matching
  is one-to-one, nearest first; the better source (lower ``Source`` value:
  extended > account data > sync) is kept.
- **Sync against the exports** (fuzzy): a synced entry (``ts`` = Spotify's
  ``played_at``, ``ms_played`` = the track's length) and an imported one are the
  same play when the track is the same (URI, or the track and first artist names
  normalised: NFKC, case and spaces folded) and ``played_at`` is within
  SYNC_WINDOW of the imported entry's end (``ts``) or of its start (``ts`` -
  ``ms_played``): Spotify's ``played_at`` has been seen as either. One-to-one,
  nearest first (the nearer of the two), and the imported entry wins. Every play
  the sync read is kept (``SyncedPlay``); the synced entries are the plays no
  imported entry stands for, decided again over the whole neighbourhood (a day on
  each side) whenever an import or a sync touches it, so the result never depends
  on the order in which exports and syncs arrived.

A batch (the staged entries of one import) is matched as a whole against
what is stored, and within itself, so the result does not depend on the order
in which files or sources arrive. Imports of one listener never overlap (an
advisory lock, see ``importer``), and the sync takes the same lock, since no
unique index can enforce a fuzzy rule.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection

from listening_history.models import Kind, Source

WINDOW_SECONDS = 60
SYNC_WINDOW_SECONDS = 90
# A synced entry matches an imported one that started near it, which ended up to
# the imported ms_played later; the synced ms_played (the track's length) bounds
# that, with this much slack (a stream can run past the length it was listed with).
SYNC_SLACK_SECONDS = 600
# resync pairs plays over this much around what changed, and rewrites half of it, so
# that a pair across the edge of what it looked at never decides an entry it writes.
RESYNC_MARGIN = timedelta(days=1)
REWRITE_MARGIN = timedelta(hours=12)

BATCH_TABLE = "lh_batch"


@dataclass
class MergeResult:
    added: int  # new entries stored (an entry that replaced a worse source's counts here)
    duplicates: int  # entries already stored, or the same play from a better source
    replaced: int  # stored entries of a worse source that a batch entry replaced


def merge(*, user_id, upload_id):
    """Merge import ``upload_id``'s staged entries into the listener's history.

    Runs inside the caller's transaction; returns a MergeResult. The staged
    rows are left for the caller to delete.
    """
    with connection.cursor() as cursor:
        total = _load_batch(cursor, upload_id)
        return merge_batch(cursor, user_id=user_id, total=total)


def merge_batch(cursor, *, user_id, total):
    """Merge the rows of BATCH_TABLE (``total`` exported entries before folding) into
    the listener's history and drop the table; returns a MergeResult.

    BATCH_TABLE holds ``bid, ts, item_id, ms_played, source, platform_id,
    conn_country_id, reason_start_id, reason_end_id, shuffle, skipped, offline,
    incognito_mode, match_key``, exact duplicates folded. Runs inside the caller's
    transaction, under the listener's lock.
    """
    if not total:
        cursor.execute(f"DROP TABLE IF EXISTS {BATCH_TABLE}")
        return MergeResult(0, 0, 0)
    replaced = 0
    if _needs_fuzzy_matching(cursor, user_id):
        replaced = _match_across_sources(cursor, user_id)
    cursor.execute(f"SELECT min(ts), max(ts) FROM {BATCH_TABLE}")
    first, last = cursor.fetchone()
    cursor.execute(
        f"""
        INSERT INTO listening_history_entry (
            user_id, ts, item_id, ms_played, source, platform_id, conn_country_id,
            reason_start_id, reason_end_id, shuffle, skipped, offline, incognito_mode
        )
        SELECT %s, ts, item_id, ms_played, source, platform_id, conn_country_id,
            reason_start_id, reason_end_id, shuffle, skipped, offline, incognito_mode
        FROM {BATCH_TABLE}
        ON CONFLICT DO NOTHING
        """,
        [user_id],
    )
    added = cursor.rowcount
    cursor.execute(f"DROP TABLE {BATCH_TABLE}")
    if first is not None:
        # Synced entries the new imported ones stand for go (and any they no longer
        # stand for come back).
        _, dropped = resync(cursor, user_id=user_id, first=first, last=last)
        replaced += dropped
    return MergeResult(added=added, duplicates=total - added, replaced=replaced)


def _load_batch(cursor, upload_id):
    """The import's staged entries, exact duplicates folded (the better source kept)."""
    cursor.execute(f"DROP TABLE IF EXISTS {BATCH_TABLE}")
    cursor.execute(
        f"""
        CREATE TEMP TABLE {BATCH_TABLE} ON COMMIT DROP AS
        SELECT DISTINCT ON (s.ts, s.item_id, s.ms_played)
            s.seq AS bid, s.ts, s.item_id, s.ms_played, s.source, s.platform_id,
            s.conn_country_id, s.reason_start_id, s.reason_end_id, s.shuffle, s.skipped,
            s.offline, s.incognito_mode, i.match_key
        FROM listening_history_stagedentry s
        JOIN listening_history_item i ON i.id = s.item_id
        WHERE s.upload_id = %s
        ORDER BY s.ts, s.item_id, s.ms_played, s.source, s.seq
        """,
        [upload_id],
    )
    cursor.execute(
        "SELECT count(*) FROM listening_history_stagedentry WHERE upload_id = %s", [upload_id]
    )
    return cursor.fetchone()[0]


def _needs_fuzzy_matching(cursor, user_id):
    """Whether two export sources meet at all: in the batch, or between batch and stored
    entries. (Synced entries have a rule of their own: :func:`_match_sync`.)"""
    cursor.execute(
        f"""
        SELECT count(DISTINCT source), min(source), min(ts), max(ts) FROM {BATCH_TABLE}
        WHERE source <> %s
        """,
        [Source.SYNC],
    )
    sources, source, first, last = cursor.fetchone()
    if sources > 1:
        return True
    if not sources:
        return False
    cursor.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM listening_history_entry
            WHERE user_id = %s AND source <> %s AND source <> %s
              AND ts BETWEEN %s - make_interval(secs => %s) AND %s + make_interval(secs => %s)
        )
        """,
        [user_id, source, Source.SYNC, first, WINDOW_SECONDS, last, WINDOW_SECONDS],
    )
    return cursor.fetchone()[0]


def _match_across_sources(cursor, user_id):
    """Pair entries of different sources one-to-one, nearest first; apply the pairs.

    A pair's worse entry goes: from the batch (a duplicate) or from the stored
    entries (replaced by the batch's better one). Returns how many stored
    entries were replaced.
    """
    window = f"make_interval(secs => {WINDOW_SECONDS})"
    # (distance, better ts, worse ts, better source, worse source, better ref, worse ref)
    # where a ref is ("b", bid) for the batch or ("e", ts, item_id, ms) for a stored entry.
    cursor.execute(
        f"""
        SELECT abs(extract(epoch FROM b.ts - e.ts)), b.ts, e.ts, b.source, e.source,
               b.bid, e.ts, e.item_id, e.ms_played
        FROM {BATCH_TABLE} b
        JOIN listening_history_entry e
          ON e.user_id = %s AND e.ms_played = b.ms_played AND e.source <> b.source
         AND e.ts BETWEEN b.ts - {window} AND b.ts + {window}
        JOIN listening_history_item i ON i.id = e.item_id AND i.match_key = b.match_key
        WHERE b.source <> %s AND e.source <> %s
        """,
        [user_id, Source.SYNC, Source.SYNC],
    )
    pairs = []
    for distance, batch_ts, stored_ts, batch_source, stored_source, bid, ts, item, ms in cursor:
        batch_ref, stored_ref = ("b", bid), ("e", ts, item, ms)
        if batch_source < stored_source:
            pairs.append(
                (distance, batch_ts, stored_ts, batch_source, stored_source, batch_ref, stored_ref)
            )
        else:
            pairs.append(
                (distance, stored_ts, batch_ts, stored_source, batch_source, stored_ref, batch_ref)
            )
    cursor.execute(
        f"""
        SELECT abs(extract(epoch FROM good.ts - bad.ts)), good.ts, bad.ts, good.source,
               bad.source, good.bid, bad.bid
        FROM {BATCH_TABLE} good
        JOIN {BATCH_TABLE} bad
          ON bad.ms_played = good.ms_played AND bad.match_key = good.match_key
         AND bad.source > good.source
         AND bad.ts BETWEEN good.ts - {window} AND good.ts + {window}
        WHERE bad.source <> %s
        """,
        [Source.SYNC],
    )
    for distance, good_ts, bad_ts, good_source, bad_source, good_bid, bad_bid in cursor:
        pairs.append(
            (distance, good_ts, bad_ts, good_source, bad_source, ("b", good_bid), ("b", bad_bid))
        )
    return _apply(cursor, user_id, pairs)


def _apply(cursor, user_id, pairs):
    """Drop the worse entry of each pair chosen by :func:`_nearest_first`; returns how
    many stored entries went."""
    drop_batch, drop_stored = _nearest_first(pairs)
    if drop_batch:
        cursor.execute(f"DELETE FROM {BATCH_TABLE} WHERE bid = ANY(%s)", [sorted(drop_batch)])
    replaced = 0
    for _, ts, item, ms in sorted(drop_stored):
        cursor.execute(
            "DELETE FROM listening_history_entry "
            "WHERE user_id = %s AND ts = %s AND item_id = %s AND ms_played = %s",
            [user_id, ts, item, ms],
        )
        replaced += cursor.rowcount
    return replaced


def _norm(column):
    """A name as the sync rule compares it: NFKC, trimmed, inner spaces folded, lower case."""
    return f"lower(regexp_replace(btrim(normalize({column}, NFKC)), '\\s+', ' ', 'g'))"


def _same_track(a_item, a_artist, b_item, b_artist):
    return f"""(
        {a_item}.id = {b_item}.id
        OR {a_item}.track_uri = {b_item}.track_uri
        OR ({_norm(f"{a_item}.track_name")} = {_norm(f"{b_item}.track_name")}
            AND {_norm(f"{a_artist}.name")} = {_norm(f"{b_artist}.name")})
    )"""


def _near(sync_ts, imported_ts, imported_ms):
    """Whether ``played_at`` is within SYNC_WINDOW of the imported entry's end or start."""
    window = f"make_interval(secs => {SYNC_WINDOW_SECONDS})"
    start = f"({imported_ts} - make_interval(secs => {imported_ms} / 1000.0))"
    return f"""(
        {sync_ts} BETWEEN {imported_ts} - {window} AND {imported_ts} + {window}
        OR {sync_ts} BETWEEN {start} - {window} AND {start} + {window}
    )"""


def _distance(sync_ts, imported_ts, imported_ms):
    start = f"({imported_ts} - make_interval(secs => {imported_ms} / 1000.0))"
    return (
        f"least(abs(extract(epoch FROM {sync_ts} - {imported_ts})), "
        f"abs(extract(epoch FROM {sync_ts} - {start})))"
    )


def resync(cursor, *, user_id, first, last):
    """Decide again which synced plays from ``first`` to ``last`` are entries of their own.

    The plays (``SyncedPlay``) and the imported entries of the neighbourhood (a day on
    each side) are paired by the sync rule, one-to-one, nearest first; the synced
    entries from ``first`` - 12 h to ``last`` + 12 h are then made exactly the plays
    left unpaired. Runs in the caller's transaction, under the listener's lock.
    Returns (synced entries inserted, synced entries deleted).
    """
    region = {"user": user_id, "lo": first - RESYNC_MARGIN, "hi": last + RESYNC_MARGIN}
    cursor.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM listening_history_syncedplay
            WHERE user_id = %(user)s AND played_at BETWEEN %(lo)s AND %(hi)s
        )
        """,
        region,
    )
    if not cursor.fetchone()[0]:
        return 0, 0
    window = f"make_interval(secs => {SYNC_WINDOW_SECONDS})"
    slack = f"make_interval(secs => {SYNC_WINDOW_SECONDS + SYNC_SLACK_SECONDS})"
    cursor.execute(
        f"""
        SELECT {_distance("p.played_at", "e.ts", "e.ms_played")}, e.ts, p.played_at, e.source,
               e.item_id, e.ms_played, p.item_id
        FROM listening_history_syncedplay p
        JOIN listening_history_item pi ON pi.id = p.item_id
        LEFT JOIN listening_history_artist pa ON pa.id = pi.artist_id
        JOIN listening_history_entry e
          ON e.user_id = %(user)s AND e.source <> %(sync)s
         AND e.ts BETWEEN p.played_at - {window}
             AND p.played_at + make_interval(secs => p.ms_played / 1000.0) + {slack}
        JOIN listening_history_item ei ON ei.id = e.item_id AND ei.kind = %(track)s
        LEFT JOIN listening_history_artist ea ON ea.id = ei.artist_id
        WHERE p.user_id = %(user)s AND p.played_at BETWEEN %(lo)s AND %(hi)s
          AND {_near("p.played_at", "e.ts", "e.ms_played")}
          AND {_same_track("ei", "ea", "pi", "pa")}
        """,
        {**region, "sync": Source.SYNC, "track": Kind.TRACK},
    )
    used, paired = set(), set()
    # Nearest first; ties broken by content, never by arrival.
    for _, ts, played_at, _, item, ms, play_item in sorted(cursor.fetchall()):
        imported, play = (ts, item, ms), (played_at, play_item)
        if imported in used or play in paired:
            continue
        used.add(imported)
        paired.add(play)
    inner = {"user": user_id, "lo": first - REWRITE_MARGIN, "hi": last + REWRITE_MARGIN}
    cursor.execute(
        """
        SELECT played_at, item_id, ms_played FROM listening_history_syncedplay
        WHERE user_id = %(user)s AND played_at BETWEEN %(lo)s AND %(hi)s
        """,
        inner,
    )
    wanted = {(at, item, ms) for at, item, ms in cursor.fetchall() if (at, item) not in paired}
    cursor.execute(
        """
        SELECT ts, item_id, ms_played FROM listening_history_entry
        WHERE user_id = %(user)s AND source = %(sync)s AND ts BETWEEN %(lo)s AND %(hi)s
        """,
        {**inner, "sync": Source.SYNC},
    )
    present = set(cursor.fetchall())
    deleted = 0
    for ts, item, ms in sorted(present - wanted):
        cursor.execute(
            "DELETE FROM listening_history_entry "
            "WHERE user_id = %s AND ts = %s AND item_id = %s AND ms_played = %s AND source = %s",
            [user_id, ts, item, ms, Source.SYNC],
        )
        deleted += cursor.rowcount
    inserted = 0
    missing = sorted(wanted - present)
    if missing:
        cursor.executemany(
            """
            INSERT INTO listening_history_entry (user_id, ts, item_id, ms_played, source)
            VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            [(user_id, ts, item, ms, Source.SYNC) for ts, item, ms in missing],
        )
        cursor.execute(
            """
            SELECT count(*) FROM listening_history_entry
            WHERE user_id = %(user)s AND source = %(sync)s AND ts BETWEEN %(lo)s AND %(hi)s
            """,
            {**inner, "sync": Source.SYNC},
        )
        inserted = cursor.fetchone()[0] - (len(present) - deleted)
    return inserted, deleted


def _nearest_first(pairs):
    """Greedy one-to-one matching, nearest first, ties broken by content (never by
    arrival order). Returns (batch ids to drop, stored refs to drop)."""
    used = set()
    drop_batch, drop_stored = set(), set()
    # Sort on the times and sources only: references carry arrival-dependent ids.
    for pair in sorted(pairs, key=lambda pair: pair[:5]):
        better, worse = pair[5], pair[6]
        if better in used or worse in used:
            continue
        used.add(better)
        used.add(worse)
        if worse[0] == "b":
            drop_batch.add(worse[1])
        else:
            drop_stored.add(worse)
    return drop_batch, drop_stored
