"""Running one import on the worker: stage every history file, then merge once.

The shape of a run, and why:

1. Take the listener's advisory lock (one import per listener at a time; the
   matcher's fuzzy rule cannot be a unique index), then claim the import
   (``queued`` -> ``running``, ``attempt`` + 1).
2. A heartbeat thread stamps ``heartbeat_at`` every HEARTBEAT_SECONDS on its own
   connection; the sweeper re-queues a ``running`` import whose heartbeat is
   stale or whose listener lock nobody holds (a worker killed by SIGKILL).
3. Each history file is streamed from the upload through the reader into a
   temporary table by COPY, its names go into the lookup tables, and its rows
   into ``StagedEntry``, all in one transaction with the import's counters and
   the file's name in ``staged_files``: a re-run skips what was committed.
4. One transaction merges everything staged through the matcher, records the
   result, and deletes the upload.

Every write transaction first locks the import row (FOR KEY SHARE) and checks
that it is still ``running`` under this run's ``attempt``. Cancel and "Delete
my history" lock it FOR UPDATE, so they wait for a write in progress and no
write of this run can follow them.
"""

import hashlib
import json
import logging
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from listening_history import matcher, reader, uploads
from listening_history.models import Import, Source, UploadFile

logger = logging.getLogger(__name__)

LOCK_CLASS = 0x4C48  # "LH": the advisory lock's first key; the listener's id is the second
HEARTBEAT_SECONDS = 10
STALE_AFTER = timedelta(seconds=60)
CHECK_EVERY_ROWS = 5000
MB = 1024 * 1024
# What an entry takes with its share of indexes and lookups, for the storage budget.
ENTRY_BYTES = 160
HISTORY_TABLE_PREFIX = "listening_history_"

RAW_TABLE = "lh_raw"
RAW_COLUMNS_SQL = """
    ts timestamptz, ms_played integer, source smallint, kind smallint, item_key uuid,
    match_key uuid, track_name text, artist_name text, album_name text, track_uri text,
    episode_name text, show_name text, episode_uri text, audiobook_title text,
    audiobook_uri text, chapter_title text, chapter_uri text, platform text,
    conn_country text, reason_start text, reason_end text, shuffle boolean, skipped boolean,
    offline boolean, incognito_mode boolean
"""


class Stop(Exception):
    """This run must write nothing more: the import was cancelled, deleted or taken over."""


# --- the listener's lock --------------------------------------------------------------


@contextmanager
def listener_lock(user_id):
    """Yield whether this session got the listener's import lock (never waits)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, user_id])
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, user_id])


def lock_is_free(cursor, user_id):
    """Whether nobody holds the listener's import lock (checked inside a transaction)."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_CLASS, user_id])
    return cursor.fetchone()[0]


# --- heartbeat ------------------------------------------------------------------------


class Heartbeat:
    """Stamps the import every HEARTBEAT_SECONDS from a thread with its own connection;
    ``check()`` raises Stop once the import is no longer this run's."""

    def __init__(self, import_id, attempt, interval=HEARTBEAT_SECONDS):
        self.import_id, self.attempt, self.interval = import_id, attempt, interval
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join(self.interval + 5)

    def _run(self):
        from django.db import connection as thread_connection

        try:
            while not self._done.wait(self.interval):
                try:
                    alive = Import.objects.filter(
                        pk=self.import_id, attempt=self.attempt, state=Import.State.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:  # a missed beat is retried; never kill the run
                    logger.warning("Import %s: heartbeat failed", self.import_id, exc_info=True)
                    continue
                if not alive:
                    self.lost.set()
                    return
        finally:
            thread_connection.close()

    def check(self):
        if self.lost.is_set():
            raise Stop


def _fence(cursor, import_id, attempt):
    """Lock the listener's row, then the import row, against cancel/delete for this
    transaction; Stop unless the run is still ours.

    The listener's row first, in a statement of its own: "disconnect" locks that row
    before it deletes anything (``accounts.services.disconnect_listener``), so the two
    take their locks in the same order and one waits for the other. (Both rows in one
    joined statement locked them in the plan's order, and a disconnect woken between
    the worker's transactions could deadlock with it.)
    """
    cursor.execute(
        f"""
        SELECT u.id FROM {get_user_model()._meta.db_table} u
        WHERE u.id = (SELECT user_id FROM listening_history_import WHERE id = %s)
        FOR KEY SHARE OF u
        """,
        [import_id],
    )
    if cursor.fetchone() is None:
        raise Stop
    cursor.execute(
        "SELECT state, attempt, user_id FROM listening_history_import WHERE id = %s FOR KEY SHARE",
        [import_id],
    )
    row = cursor.fetchone()
    if row is None or row[0] != Import.State.RUNNING or row[1] != attempt:
        raise Stop
    return row[2]


# --- a run ----------------------------------------------------------------------------


def run(import_id):
    """Run import ``import_id`` if it is queued; returns a word for the task's result.

    "busy" means another import of the listener holds the lock: the caller
    tries again later.
    """
    user_id = Import.objects.filter(pk=import_id).values_list("user_id", flat=True).first()
    if user_id is None:
        return "gone"
    with listener_lock(user_id) as locked:
        if not locked:
            return "busy"
        attempt = _claim(import_id)
        if attempt is None:
            return "not queued"
        with Heartbeat(import_id, attempt) as heartbeat:
            try:
                state = _run(import_id, attempt, user_id, heartbeat)
            except Stop:
                logger.info("Import %s stopped: cancelled, deleted or taken over", import_id)
                return "stopped"
            except OverBudget as over:
                _finish_failed(import_id, attempt, over.message())
                return Import.State.FAILED
            except Exception:
                logger.exception("Import %s failed", import_id)
                _finish_failed(
                    import_id, attempt, "The import failed unexpectedly; nothing of it was kept."
                )
                return Import.State.FAILED
    logger.info("Import %s %s", import_id, state)
    return state


def _claim(import_id):
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE listening_history_import
            SET state = %s, attempt = attempt + 1, started_at = coalesce(started_at, %s),
                heartbeat_at = %s
            WHERE id = %s AND state = %s
            RETURNING attempt
            """,
            [Import.State.RUNNING, now, now, import_id, Import.State.QUEUED],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _run(import_id, attempt, user_id, heartbeat):
    upload = Import.objects.get(pk=import_id)
    done = set(upload.staged_files)
    budget = reader.Budget(settings.HISTORY_MAX_UNCOMPRESSED_MB * MB)
    found_history = bool(done)
    ignored = []
    fingerprints = []
    with tempfile.TemporaryDirectory(prefix="euterpe-import-") as workdir:
        records = list(UploadFile.objects.filter(upload_id=import_id).order_by("position"))
        paths, digests = {}, {}
        for record in records:
            heartbeat.check()
            path = uploads.write_to(record, Path(workdir) / f"upload-{record.position}")
            paths[record.position] = path
            with path.open("rb") as data:
                digests[record.position] = hashlib.file_digest(data, "sha256").hexdigest()
        if not done:
            known = _known_files(user_id, [digests[record.position] for record in records])
            if known and (state := _merge_known(import_id, attempt, user_id, known, heartbeat)):
                return state
        for record in records:
            heartbeat.check()
            path = paths[record.position]
            upload_key = f"{record.position}!"
            used_before = budget.used
            try:
                files, names = reader.read_upload(record.name, path, budget, record.position)
            except reader.FileError as error:
                if upload_key not in done:
                    _record(import_id, attempt, upload_key, error=str(error))
                continue
            ignored += names
            found_history = found_history or bool(files)
            # What a later upload of the very same bytes may reuse (see _merge_known).
            fingerprint = {
                "v": FINGERPRINT_VERSION,
                "sha256": digests[record.position],
                "files": 0,
                "entries": 0,
            }
            for history_file in files:
                if history_file.key in done:
                    continue
                try:
                    read = _stage(import_id, attempt, user_id, history_file, heartbeat)
                except reader.UploadError as error:
                    # Past the inflation limit: nothing of this upload is kept.
                    _finish_failed(import_id, attempt, str(error))
                    return Import.State.FAILED
                except reader.FileError as error:
                    _record(import_id, attempt, history_file.key, error=str(error))
                    fingerprint = None
                    continue
                if fingerprint is not None and read.reusable:
                    fingerprint["files"] += 1
                    fingerprint["entries"] += read.entries
                    fingerprint["first"] = min(read.first, fingerprint.get("first", read.first))
                    fingerprint["last"] = max(read.last, fingerprint.get("last", read.last))
                else:
                    fingerprint = None
            if fingerprint and fingerprint["files"] and not done:
                fingerprint["inflated"] = budget.used - used_before
                fingerprints.append(fingerprint)
            path.unlink()
    if not found_history:
        names = ", ".join(sorted(set(ignored))[:5]) + (", …" if len(set(ignored)) > 5 else "")
        what = " and ".join(r for r in upload.upload_names[:3]) or "The upload"
        text = f"{what} holds no streaming history" + (f" (only {names})" if names else "")
        _record(import_id, attempt, "none", error=text)
    return _merge(import_id, attempt, user_id, heartbeat, fingerprints)


# --- an upload read before ----------------------------------------------------------
#
# A listener who uploads the same export again gets what reading it would give, without
# reading it. This is only done where the outcome is provably that of a full run:
#
# - Every file of the upload has the bytes (SHA-256) of a file that an import of the
#   listener which ended `done` read whole in one run: extended entries only (the best
#   source), none skipped, no error. Such an import's entries stay stored for as long as
#   the import does: no source ranks above extended, so the matcher never replaces them,
#   and "Delete my history" and disconnecting delete the import with them.
# - So a full run would stage exactly the recorded entries, every one an exact duplicate
#   of a stored entry (new items, names or terms: none). The merge would pair nothing
#   across sources if no stored account-data entry lies within the matcher's window of
#   those entries (checked here, in the merge's transaction; otherwise the files are
#   read), would insert nothing, and would then re-decide the synced entries of that
#   time range (done here too, with matcher.resync). The storage and inflation budgets
#   are checked as a run would. FINGERPRINT_VERSION changes whenever reading changes.
FINGERPRINT_VERSION = 1


def _known_files(user_id, digests):
    """The fingerprints recorded for ``digests`` (one per upload file, in order), or None
    unless every one was recorded by a finished import of the listener."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT f::text FROM listening_history_import i, jsonb_array_elements(i.fingerprints) f
            WHERE i.user_id = %s AND i.state = %s AND f->>'v' = %s AND f->>'sha256' = ANY(%s)
            """,
            [user_id, Import.State.DONE, str(FINGERPRINT_VERSION), list(set(digests))],
        )
        found = {}
        for (text,) in cursor.fetchall():
            fingerprint = json.loads(text)
            found[fingerprint["sha256"]] = fingerprint
    if not digests or any(digest not in found for digest in digests):
        return None
    return [found[digest] for digest in digests]


def _merge_known(import_id, attempt, user_id, known, heartbeat):
    """Finish the import from the ``known`` fingerprints when that is provably what reading
    the files would give (see above); returns the state, or None to read the files."""
    entries = sum(fingerprint["entries"] for fingerprint in known)
    if sum(fingerprint["inflated"] for fingerprint in known) > (
        settings.HISTORY_MAX_UNCOMPRESSED_MB * MB
    ):
        return None
    first = min(datetime.fromisoformat(fingerprint["first"]) for fingerprint in known)
    last = max(datetime.fromisoformat(fingerprint["last"]) for fingerprint in known)
    heartbeat.check()
    with transaction.atomic(), connection.cursor() as cursor:
        _fence(cursor, import_id, attempt)
        cursor.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM listening_history_entry
                WHERE user_id = %s AND source NOT IN (%s, %s)
                  AND ts BETWEEN %s - make_interval(secs => %s) AND %s + make_interval(secs => %s)
            )
            """,
            [
                user_id,
                Source.EXTENDED,
                Source.SYNC,
                first,
                matcher.WINDOW_SECONDS,
                last,
                matcher.WINDOW_SECONDS,
            ],
        )
        if cursor.fetchone()[0]:
            return None
        if history_bytes() + entries * ENTRY_BYTES > settings.HISTORY_STORAGE_BUDGET_MB * MB:
            raise OverBudget(entries)
        _, dropped = matcher.resync(cursor, user_id=user_id, first=first, last=last)
        cursor.execute(
            """
            UPDATE listening_history_import
            SET state = %s, files = %s, entries = %s, skipped = 0, added = 0, duplicates = %s,
                finished_at = %s, heartbeat_at = NULL, fingerprints = %s
            WHERE id = %s
            """,
            [
                Import.State.DONE,
                sum(fingerprint["files"] for fingerprint in known),
                entries,
                entries,
                timezone.now(),
                Jsonb(known),
                import_id,
            ],
        )
        _discard_upload(cursor, import_id)
        if entries or dropped:
            collect_orphans(cursor, user_id)
    logger.info(
        "Import %s: every file was imported before; %s entries already there", import_id, entries
    )
    return Import.State.DONE


def _stage(import_id, attempt, user_id, history_file, heartbeat):
    """Read one history file into StagedEntry, committed with the import's counters."""
    with transaction.atomic(), connection.cursor() as cursor:
        _fence(cursor, import_id, attempt)
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {RAW_TABLE} ({RAW_COLUMNS_SQL}) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {RAW_TABLE}")
        columns = ", ".join(reader.COLUMNS)
        with cursor.cursor.copy(f"COPY {RAW_TABLE} ({columns}) FROM STDIN") as copy:
            for count, row in enumerate(history_file.rows(), start=1):
                copy.write_row(row)
                if count % CHECK_EVERY_ROWS == 0:
                    heartbeat.check()
        heartbeat.check()
        store_lookups(cursor, user_id)
        _store_staged(cursor, import_id, user_id)
        stats = history_file.stats
        _bump(cursor, import_id, history_file.key, files=1, **stats)
        cursor.execute(
            f"SELECT bool_and(source = %s), min(ts), max(ts) FROM {RAW_TABLE}", [Source.EXTENDED]
        )
        extended_only, first, last = cursor.fetchone()
    return Staged(
        entries=stats["entries"],
        reusable=bool(extended_only) and not stats["skipped"] and stats["entries"] > 0,
        first=first.isoformat() if first else None,
        last=last.isoformat() if last else None,
    )


@dataclass
class Staged:
    """What one history file gave, for its upload's fingerprint."""

    entries: int
    reusable: bool  # extended entries only, none skipped
    first: str | None
    last: str | None


def store_lookups(cursor, user_id):
    """Put the names of RAW_TABLE's rows into the lookup tables (items, artists, albums,
    terms), each once per listener; the sync uses it too."""
    params = {"user": user_id}
    cursor.execute(
        f"""
        INSERT INTO listening_history_artist (user_id, name)
        SELECT DISTINCT %(user)s, artist_name FROM {RAW_TABLE} WHERE artist_name IS NOT NULL
        ON CONFLICT ON CONSTRAINT lh_artist_name DO NOTHING
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO listening_history_album (user_id, artist_id, name)
        SELECT DISTINCT %(user)s, a.id, r.album_name
        FROM (
            -- Distinct pairs first: a file repeats each album hundreds of times.
            SELECT DISTINCT artist_name, album_name FROM {RAW_TABLE} WHERE album_name IS NOT NULL
        ) r
        LEFT JOIN listening_history_artist a ON a.user_id = %(user)s AND a.name = r.artist_name
        ON CONFLICT ON CONSTRAINT lh_album_name DO NOTHING
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO listening_history_term (user_id, text)
        SELECT DISTINCT %(user)s, t.text
        FROM {RAW_TABLE} r,
             unnest(ARRAY[r.platform, r.conn_country, r.reason_start, r.reason_end]) AS t(text)
        WHERE t.text IS NOT NULL
        ON CONFLICT ON CONSTRAINT lh_term_text DO NOTHING
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO listening_history_item (
            user_id, key, match_key, kind, track_name, artist_id, album_id, track_uri,
            episode_name, show_name, episode_uri, audiobook_title, audiobook_uri,
            chapter_title, chapter_uri
        )
        SELECT %(user)s, r.item_key, r.match_key, r.kind, r.track_name, a.id,
               coalesce(al.id, al0.id), r.track_uri, r.episode_name, r.show_name,
               r.episode_uri, r.audiobook_title, r.audiobook_uri, r.chapter_title, r.chapter_uri
        FROM (
            SELECT * FROM (
                SELECT DISTINCT ON (item_key) * FROM {RAW_TABLE} ORDER BY item_key
            ) raw
            WHERE NOT EXISTS (
                SELECT 1 FROM listening_history_item i
                WHERE i.user_id = %(user)s AND i.key = raw.item_key
            )
        ) r
        LEFT JOIN listening_history_artist a ON a.user_id = %(user)s AND a.name = r.artist_name
        LEFT JOIN listening_history_album al
          ON al.user_id = %(user)s AND al.artist_id = a.id AND al.name = r.album_name
        LEFT JOIN listening_history_album al0
          ON al0.user_id = %(user)s AND al0.artist_id IS NULL AND a.id IS NULL
         AND al0.name = r.album_name
        ON CONFLICT ON CONSTRAINT lh_item_key DO NOTHING
        """,
        params,
    )


def _store_staged(cursor, import_id, user_id):
    cursor.execute(
        "SELECT coalesce(max(seq), 0) FROM listening_history_stagedentry WHERE upload_id = %s",
        [import_id],
    )
    base = cursor.fetchone()[0]
    cursor.execute(
        f"""
        INSERT INTO listening_history_stagedentry (
            upload_id, seq, ts, item_id, ms_played, source, platform_id, conn_country_id,
            reason_start_id, reason_end_id, shuffle, skipped, offline, incognito_mode
        )
        SELECT %(import)s, %(base)s + row_number() OVER (), r.ts, i.id, r.ms_played, r.source,
               p.id, c.id, rs.id, re.id, r.shuffle, r.skipped, r.offline, r.incognito_mode
        FROM {RAW_TABLE} r
        JOIN listening_history_item i ON i.user_id = %(user)s AND i.key = r.item_key
        LEFT JOIN listening_history_term p ON p.user_id = %(user)s AND p.text = r.platform
        LEFT JOIN listening_history_term c ON c.user_id = %(user)s AND c.text = r.conn_country
        LEFT JOIN listening_history_term rs ON rs.user_id = %(user)s AND rs.text = r.reason_start
        LEFT JOIN listening_history_term re ON re.user_id = %(user)s AND re.text = r.reason_end
        """,
        {"import": import_id, "base": base, "user": user_id},
    )


def _bump(cursor, import_id, key, *, files=0, entries=0, skipped=0, error=None):
    cursor.execute(
        """
        UPDATE listening_history_import
        SET files = files + %s, entries = entries + %s, skipped = skipped + %s,
            errors = CASE WHEN %s::text IS NULL THEN errors ELSE errors || to_jsonb(%s::text) END,
            staged_files = staged_files || to_jsonb(%s::text)
        WHERE id = %s
        """,
        [files, entries, skipped, error, error, key, import_id],
    )


def _record(import_id, attempt, key, *, error):
    """Note a file that contributed nothing, with its message, once per import."""
    with transaction.atomic(), connection.cursor() as cursor:
        _fence(cursor, import_id, attempt)
        _bump(cursor, import_id, key, error=error)


def history_bytes():
    """Bytes the listening-history tables take (data, indexes, TOAST), all listeners."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE %s
            """,
            [HISTORY_TABLE_PREFIX.replace("_", "\\_") + "%"],
        )
        return int(cursor.fetchone()[0])


def _merge(import_id, attempt, user_id, heartbeat, fingerprints=()):
    heartbeat.check()
    with transaction.atomic(), connection.cursor() as cursor:
        _fence(cursor, import_id, attempt)
        cursor.execute(
            "SELECT count(*) FROM listening_history_stagedentry WHERE upload_id = %s", [import_id]
        )
        staged = cursor.fetchone()[0]
        budget = settings.HISTORY_STORAGE_BUDGET_MB * MB
        if staged and history_bytes() + staged * ENTRY_BYTES > budget:
            raise OverBudget(staged)
        result = matcher.merge(user_id=user_id, upload_id=import_id)
        cursor.execute(
            "SELECT files, errors FROM listening_history_import WHERE id = %s", [import_id]
        )
        files, errors = cursor.fetchone()
        state = Import.State.DONE if files or not errors else Import.State.FAILED
        cursor.execute(
            """
            UPDATE listening_history_import
            SET state = %s, added = %s, duplicates = %s, finished_at = %s, heartbeat_at = NULL,
                fingerprints = %s
            WHERE id = %s
            """,
            [
                state,
                result.added,
                result.duplicates,
                timezone.now(),
                Jsonb(list(fingerprints) if state == Import.State.DONE else []),
                import_id,
            ],
        )
        _discard_upload(cursor, import_id)
        if result.duplicates or result.replaced:
            collect_orphans(cursor, user_id)
    return state


class OverBudget(Exception):
    """Merging would take the history tables past HISTORY_STORAGE_BUDGET_MB."""

    def __init__(self, staged):
        self.staged = staged

    def message(self):
        return (
            f"Importing {self.staged:,} entries would pass the storage Euterpe may use for "
            f"listening history ({settings.HISTORY_STORAGE_BUDGET_MB} MB); nothing was imported."
        )


def _discard_upload(cursor, import_id):
    cursor.execute("DELETE FROM listening_history_stagedentry WHERE upload_id = %s", [import_id])
    cursor.execute("DELETE FROM listening_history_uploadfile WHERE upload_id = %s", [import_id])


def collect_orphans(cursor, user_id):
    """Delete the listener's items and names no entry uses any more."""
    params = {"user": user_id}
    cursor.execute(
        """
        DELETE FROM listening_history_item i
        WHERE i.user_id = %(user)s AND NOT EXISTS (
            SELECT 1 FROM listening_history_entry e
            WHERE e.user_id = %(user)s AND e.item_id = i.id
        ) AND NOT EXISTS (
            SELECT 1 FROM listening_history_stagedentry s
            JOIN listening_history_import u ON u.id = s.upload_id
            WHERE u.user_id = %(user)s AND s.item_id = i.id
        ) AND NOT EXISTS (
            SELECT 1 FROM listening_history_syncedplay p
            WHERE p.user_id = %(user)s AND p.item_id = i.id
        )
        """,
        params,
    )
    cursor.execute(
        """
        DELETE FROM listening_history_album al
        WHERE al.user_id = %(user)s AND al.id NOT IN (
            SELECT album_id FROM listening_history_item
            WHERE user_id = %(user)s AND album_id IS NOT NULL
        )
        """,
        params,
    )
    cursor.execute(
        """
        DELETE FROM listening_history_artist a
        WHERE a.user_id = %(user)s AND a.id NOT IN (
            SELECT artist_id FROM listening_history_item
            WHERE user_id = %(user)s AND artist_id IS NOT NULL
            UNION ALL
            SELECT artist_id FROM listening_history_album
            WHERE user_id = %(user)s AND artist_id IS NOT NULL
        )
        """,
        params,
    )
    cursor.execute(
        """
        DELETE FROM listening_history_term t
        WHERE t.user_id = %(user)s AND t.id NOT IN (
            SELECT x FROM listening_history_entry e,
                LATERAL (VALUES (e.platform_id), (e.conn_country_id), (e.reason_start_id),
                                (e.reason_end_id)) AS v(x)
            WHERE e.user_id = %(user)s AND x IS NOT NULL
            UNION ALL
            SELECT x FROM listening_history_stagedentry s
            JOIN listening_history_import u ON u.id = s.upload_id,
                LATERAL (VALUES (s.platform_id), (s.conn_country_id), (s.reason_start_id),
                                (s.reason_end_id)) AS v(x)
            WHERE u.user_id = %(user)s AND x IS NOT NULL
        )
        """,
        params,
    )


def _finish_failed(import_id, attempt, message):
    """End the run as failed with ``message``: nothing staged is kept."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            user_id = _fence(cursor, import_id, attempt)
            cursor.execute(
                """
                UPDATE listening_history_import
                SET state = %s, finished_at = %s, heartbeat_at = NULL,
                    errors = errors || to_jsonb(%s::text)
                WHERE id = %s
                """,
                [Import.State.FAILED, timezone.now(), message, import_id],
            )
            _discard_upload(cursor, import_id)
            collect_orphans(cursor, user_id)
    except Stop:
        pass
