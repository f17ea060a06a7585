"""The one matcher: which entries from different sources are the same play.

Every source of history (the extended export, the account-data export, and the
Web API sync a later issue adds) goes through :func:`merge`. Two rules:

- **Identity** (exact): the same listener, end time, ``ms_played`` and item
  (URI, else names). The entries table's primary key is that identity, so an
  exact duplicate can never be stored twice.
- **Across sources** (fuzzy): entries of different sources are the same play
  when their end times are within WINDOW, their ``ms_played`` are equal and
  their creator and title are equal as written (``Item.match_key``). Matching
  is one-to-one, nearest first; the better source (lower ``Source`` value:
  extended > account data > sync) is kept.

A batch (the staged entries of one import) is matched as a whole against
what is stored, and within itself, so the result does not depend on the order
in which files or sources arrive. Imports of one listener never overlap (an
advisory lock, see ``importer``), since no unique index can enforce a fuzzy rule.
"""

from dataclasses import dataclass

from django.db import connection

WINDOW_SECONDS = 60

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
        if not total:
            return MergeResult(0, 0, 0)
        replaced = 0
        if _needs_fuzzy_matching(cursor, user_id):
            replaced = _match_across_sources(cursor, user_id)
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
    """Whether two sources meet at all: in the batch, or between batch and stored entries."""
    cursor.execute(
        f"SELECT count(DISTINCT source), min(source), min(ts), max(ts) FROM {BATCH_TABLE}"
    )
    sources, source, first, last = cursor.fetchone()
    if sources > 1:
        return True
    cursor.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM listening_history_entry
            WHERE user_id = %s AND source <> %s
              AND ts BETWEEN %s - make_interval(secs => %s) AND %s + make_interval(secs => %s)
        )
        """,
        [user_id, source, first, WINDOW_SECONDS, last, WINDOW_SECONDS],
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
        """,
        [user_id],
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
        """
    )
    for distance, good_ts, bad_ts, good_source, bad_source, good_bid, bad_bid in cursor:
        pairs.append(
            (distance, good_ts, bad_ts, good_source, bad_source, ("b", good_bid), ("b", bad_bid))
        )
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
