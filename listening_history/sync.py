"""The sync of recently played: opted-in listeners' new plays join their history.

Spotify's Web API remembers a listener's last 50 plays (over 30 s, tracks only), so
a round runs every 10 minutes (``manage.py sync_history`` from Heroku Scheduler
enqueues :func:`listening_history.tasks.sync_round`) and syncs each opted-in
listener whose last sync started more than HISTORY_SYNC_INTERVAL_MINUTES ago: one
call with the ``after`` cursor of the newest play already read, one page of 50.

How a round stays within Spotify's rules and Euterpe's database:

- One round at a time (a session advisory lock); a second finds it held and ends.
- At most CONCURRENCY Spotify calls in flight: the calls to recently-played run on
  a few threads that only talk HTTP; the round's own thread does every database
  write and token refresh (counted among the calls in flight), so a round holds
  one connection, as an import does. Starts are SPACING_SECONDS apart.
- Spotify's Retry-After is the dashboard's (``accounts.spotify_backoff``): a 429
  sets it, and while it holds the round makes no call at all; the listeners it did
  not reach stay due. No retry loop anywhere.
- A refused refresh token discards the tokens (``fresh_access_token``) and pauses
  the listener; off the allow-list (403) pauses too. A paused listener resumes
  once they log in again (``last_login`` after ``paused_at``).

Writes go through the one matcher (``matcher.merge_batch``) under the importer's
per-listener lock (``importer.listener_lock``): an import and a sync of one
listener never merge at the same time, so neither can count a play the other is
storing. A listener's write locks their user row (KEY SHARE: disconnect waits, or
finds nothing to write to) and their sync row (opting out waits, and nothing is
written after it).
"""

import contextvars
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

import spotify_client
from accounts import spotify_backoff
from accounts.models import SpotifyToken
from accounts.tokens import REFRESH_MARGIN, ReauthenticationRequired, fresh_access_token
from listening_history import importer, matcher, reader
from listening_history.models import Kind, Source, SyncState

logger = logging.getLogger(__name__)

# Spotify calls in flight at once in a round, token refreshes included.
CONCURRENCY = 4
# Between the starts of two calls: a round's calls are spread, not fired at once.
SPACING_SECONDS = 0.02
PAGE = 50
# The round's session advisory lock: (class, 0). importer.LOCK_CLASS is the listener's.
ROUND_LOCK_CLASS = 0x4C53  # "LS"
# `sync_history` serialises its check-then-enqueue on this transaction lock.
ENQUEUE_LOCK = 1
# A round task this young counts as alive even before it holds the round lock.
STARTING_GRACE = timedelta(seconds=60)


@dataclass
class RoundReport:
    """What a round did; the task's result and the log line."""

    state: str = "done"  # done, off, busy (another round runs), rate_limited
    listeners: int = 0  # listeners it synced (reached Spotify and wrote)
    calls: int = 0  # Spotify calls it made, refreshes included
    added: int = 0
    paused: int = 0
    errors: int = 0
    skipped: int = 0  # claimed but left for the next round (import running, 429)
    seconds: float = 0.0
    peak_in_flight: int = 0
    notes: list = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


# --- the listener's choice ----------------------------------------------------------------


def state_of(user):
    return SyncState.objects.filter(user_id=user.pk).first()


def opt_in(user):
    """The listener asks for their plays to be added from now on (idempotent)."""
    now = timezone.now()
    with transaction.atomic():
        state, _ = SyncState.objects.select_for_update().get_or_create(user_id=user.pk)
        if not state.opted_in:
            state.opted_in = True
            state.opted_in_at = now
            # Paused earlier: they are here, logged in; let the next round try again.
            state.paused, state.paused_at = SyncState.Pause.NONE, None
            state.started_at = None
            state.save()
    logger.info("History sync: user %s opted in", user.get_username())
    return state


def opt_out(user):
    """The sync stops for the listener; what it stored stays.

    Locks the listener's sync row: a write of a running round finishes first, and
    nothing is written after this returns.
    """
    with transaction.atomic():
        state = SyncState.objects.select_for_update().filter(user_id=user.pk).first()
        if state is None or not state.opted_in:
            return state
        state.opted_in = False
        state.save(update_fields=["opted_in"])
    logger.info("History sync: user %s opted out", user.get_username())
    return state


# --- a round ------------------------------------------------------------------------------


def run_round():
    """Sync every due listener once; returns a RoundReport."""
    report = RoundReport()
    if not settings.HISTORY_SYNC_ENABLED:
        report.state = "off"
        return report
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, 0)", [ROUND_LOCK_CLASS])
        if not cursor.fetchone()[0]:
            report.state = "busy"
            logger.info("History sync: another round is running; this one ends")
            return report
    try:
        _Round(report).run(due_listeners())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [ROUND_LOCK_CLASS])
        report.seconds = round(time.monotonic() - started, 3)
    logger.info(
        "History sync round %s: %s listeners, %s calls, %s added, %s paused, %s errors, "
        "%s left for later, %.1f s",
        report.state,
        report.listeners,
        report.calls,
        report.added,
        report.paused,
        report.errors,
        report.skipped,
        report.seconds,
    )
    return report


def round_running():
    """Whether a round holds the round lock now (read from pg_locks, never taken)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND objsubid = 2
                  AND classid = %s AND objid = 0
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            )
            """,
            [ROUND_LOCK_CLASS],
        )
        return cursor.fetchone()[0]


def _due_sql():
    users = get_user_model()._meta.db_table
    return f"""
        FROM listening_history_syncstate s
        JOIN {users} u ON u.id = s.user_id
        WHERE s.opted_in
          AND (s.started_at IS NULL OR s.started_at <= %(now)s - %(interval)s)
          AND (s.paused = '' OR (u.last_login IS NOT NULL AND u.last_login > s.paused_at))
    """


def due_listeners(now=None):
    """Ids of the opted-in listeners a round would sync now, longest waiting first."""
    params = _due_params(now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.user_id {_due_sql()} ORDER BY s.started_at NULLS FIRST, s.user_id",
            params,
        )
        return [row[0] for row in cursor.fetchall()]


def _due_params(now):
    return {"now": now, "interval": timedelta(minutes=settings.HISTORY_SYNC_INTERVAL_MINUTES)}


def _claim(user_id):
    """Take the listener for this round (they may have been synced or have opted out
    since the round listed them); their cursor, or False when not theirs to take."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE listening_history_syncstate
            SET started_at = %(now)s, paused = '', paused_at = NULL
            WHERE user_id = %(user)s AND user_id IN (SELECT s.user_id {_due_sql()})
            RETURNING cursor_ms
            """,
            {**_due_params(now), "user": user_id},
        )
        row = cursor.fetchone()
    return False if row is None else row[0]


def _release(user_id):
    """Due again at the next round: this one could not sync the listener."""
    SyncState.objects.filter(user_id=user_id).update(started_at=None)


def _note(user_id, **fields):
    SyncState.objects.filter(user_id=user_id).update(**fields)


class _Round:
    """One round's loop: the round's thread claims, refreshes and writes; a small pool
    of threads waits on Spotify."""

    def __init__(self, report):
        self.report = report
        self.in_flight = set()
        self.last_start = 0.0
        self.rate_limited = False
        self._count_lock = threading.Lock()
        self._calls_now = 0
        self.users = get_user_model()

    def run(self, due):
        # The worker is not a web server: its round takes one waiting slot, and the
        # threads it starts share it (their context is copied from here).
        with spotify_client.waiting_slot(), ThreadPoolExecutor(CONCURRENCY) as pool:
            self.pool = pool
            for user_id in due:
                if self._stopped():
                    break
                self._guarded(user_id, self._start, user_id)
            while self.in_flight:
                self._finish_some()
        if self.rate_limited:
            self.report.state = "rate_limited"

    def _stopped(self):
        if self.rate_limited:
            return True
        if spotify_backoff.backoff_remaining():
            self.rate_limited = True
            self.report.notes.append("Spotify's Retry-After is in force")
            return True
        return False

    def _make_room(self, free):
        """Wait (writing what came back meanwhile) until ``free`` more calls may start."""
        while len(self.in_flight) > CONCURRENCY - free:
            self._finish_some()
        pause = self.last_start + SPACING_SECONDS - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self.last_start = time.monotonic()

    def _start(self, user_id):
        cursor_ms = _claim(user_id)
        if cursor_ms is False:
            return
        user = self.users.objects.filter(pk=user_id).first()
        if user is None:
            return
        if _will_refresh(user_id):
            # The refresh calls Spotify from this thread: one of the calls in flight.
            self._make_room(free=1)
            if self._stopped():
                _release(user_id)
                self.report.skipped += 1
                return
            get_token = lambda: self._counted(lambda: fresh_access_token(user))  # noqa: E731
        else:
            get_token = lambda: fresh_access_token(user)  # noqa: E731
        try:
            token = get_token()
        except ReauthenticationRequired as refused:
            self._pause(user, refused.reason)
            return
        except spotify_client.RateLimited as limited:
            self._hold_off(limited, user_id)
            return
        except spotify_client.SpotifyError as error:
            self._error(user, error)
            return
        self._submit(user, token, cursor_ms, retried=False)

    def _submit(self, user, token, cursor_ms, *, retried):
        self._make_room(free=1)
        if self._stopped():
            _release(user.pk)
            self.report.skipped += 1
            return
        context = contextvars.copy_context()
        future = self.pool.submit(context.run, self._counted, lambda: _fetch(token, cursor_ms))
        future.job = (user, token, cursor_ms, retried)
        self.in_flight.add(future)

    def _counted(self, call):
        """Run ``call`` (which may call Spotify) counting it among the calls in flight."""
        with self._count_lock:
            self._calls_now += 1
            self.report.calls += 1
            self.report.peak_in_flight = max(self.report.peak_in_flight, self._calls_now)
        try:
            return call()
        finally:
            with self._count_lock:
                self._calls_now -= 1

    def _finish_some(self):
        done, _ = wait(self.in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            self.in_flight.discard(future)
            self._guarded(future.job[0].pk, self._finish, future)

    def _guarded(self, user_id, step, *args):
        """One listener's step; whatever goes wrong stays that listener's (logged, noted)
        and the round goes on to the others."""
        try:
            step(*args)
        except Exception:
            logger.exception("History sync of user #%s failed unexpectedly", user_id)
            self.report.errors += 1
            try:
                _note(user_id, last_error="The sync failed unexpectedly; the next one tries again.")
            except DatabaseError:
                logger.exception("History sync: could not note the failure of user #%s", user_id)

    def _finish(self, future):
        user, token, cursor_ms, retried = future.job
        try:
            plays = future.result()
        except spotify_client.TokenExpired as error:
            if retried or self._stopped():
                self._error(user, error)
                return
            try:
                fresh = self._counted(lambda: fresh_access_token(user, rejected_token=token))
            except ReauthenticationRequired as refused:
                self._pause(user, refused.reason)
                return
            except spotify_client.SpotifyError as refresh_error:
                self._error(user, refresh_error)
                return
            self._submit(user, fresh, cursor_ms, retried=True)
            return
        except spotify_client.NotOnAllowList:
            self._pause(user, SyncState.Pause.NOT_ON_ALLOW_LIST)
            return
        except spotify_client.RateLimited as limited:
            self._hold_off(limited, user.pk)
            return
        except spotify_client.SpotifyError as error:
            self._error(user, error)
            return
        outcome = write_plays(user.pk, plays)
        if outcome is None:
            _release(user.pk)
            self.report.skipped += 1
        elif outcome is not False:
            self.report.listeners += 1
            self.report.added += outcome

    def _pause(self, user, reason):
        self.report.paused += 1
        _note(user.pk, paused=reason, paused_at=timezone.now(), last_error=_PAUSES[reason])
        logger.warning("History sync of user %s paused: %s", user.get_username(), reason)

    def _error(self, user, error):
        self.report.errors += 1
        _note(user.pk, last_error=_message(error))
        logger.warning(
            "History sync of user %s failed: %s", user.get_username(), type(error).__name__
        )

    def _hold_off(self, limited, user_id):
        seconds = spotify_backoff.hold_off(limited.retry_after)
        if not self.rate_limited:
            logger.warning("History sync: Spotify answered 429; no calls for %s s", seconds)
        self.rate_limited = True
        _release(user_id)
        self.report.skipped += 1


_PAUSES = {
    SyncState.Pause.REVOKED: "Spotify no longer accepts Euterpe's access (it ends six months "
    "after you logged in, or when you remove Euterpe in your Spotify account). Log in "
    "again to resume.",
    SyncState.Pause.NO_TOKENS: "Euterpe holds no Spotify access for you. Log in again to resume.",
    SyncState.Pause.UNDECRYPTABLE: "Euterpe cannot read your Spotify access any more. "
    "Log in again to resume.",
    SyncState.Pause.NOT_ON_ALLOW_LIST: "Spotify says your account is not among this app's "
    "users (Spotify's Development Mode allows five, added by the person who runs Euterpe). "
    "Ask them to add you, then log in again.",
}


def _message(error):
    if isinstance(error, spotify_client.SpotifyUnavailable | spotify_client.SpotifyBusy):
        return "Spotify did not answer; the next sync tries again."
    return "Spotify's answer could not be used; the next sync tries again."


def _will_refresh(user_id):
    """Whether ``fresh_access_token`` is about to call Spotify (read without decrypting)."""
    expires_at = (
        SpotifyToken.objects.filter(user_id=user_id).values_list("expires_at", flat=True).first()
    )
    return expires_at is not None and expires_at - timezone.now() <= REFRESH_MARGIN


def _fetch(token, cursor_ms):
    """One page of recently played after ``cursor_ms`` (a worker thread: HTTP only)."""
    return spotify_client.get_recently_played(token, limit=PAGE, after=cursor_ms).items


# --- writing -----------------------------------------------------------------------------


def rows_of(plays):
    """Rows in ``reader.COLUMNS`` order for the plays that are tracks (never episodes).

    ``ts`` = ``played_at``; ``ms_played`` = the track's length (Spotify does not say
    how long it played: an estimate); the first artist; local files by their names.
    """
    rows = []
    for play in plays:
        track = play.track
        uri = track.uri or ""
        if uri and not uri.startswith(("spotify:track:", "spotify:local:")):
            continue  # an episode or anything else the endpoint should not send
        if not track.name or not track.duration_ms or track.duration_ms > reader.MAX_MS_PLAYED:
            continue
        track_uri = uri if uri.startswith("spotify:track:") else None
        artist = _clip(track.artists[0].name if track.artists else None)
        album = _clip(track.album.name if track.album else None)
        name = _clip(track.name)
        names = (name, artist, album, None, None, None, None)
        key, match_key = reader.item_keys(Kind.TRACK, names, track_uri)
        rows.append(
            (
                play.played_at.astimezone(UTC),
                track.duration_ms,
                Source.SYNC,
                Kind.TRACK,
                key,
                match_key,
                name,
                artist,
                album,
                track_uri,
                *(None,) * 15,
            )
        )
    return rows


def _clip(text):
    """Names as the importer keeps them: at most reader.MAX_TEXT_CHARS; "" is no name."""
    return text[: reader.MAX_TEXT_CHARS] if text else None


def write_plays(user_id, plays):
    """Merge ``plays`` into the listener's history; the entries added.

    None when an import of the listener holds their lock (the next round tries
    again); False when the listener is gone or opted out meanwhile (nothing written).
    """
    rows = rows_of(plays)
    newest = max((_millis(play.played_at) for play in plays), default=None)
    with importer.listener_lock(user_id) as locked:
        if not locked:
            return None
        with transaction.atomic(), connection.cursor() as cursor:
            if not _fence(cursor, user_id):
                return False
            added, removed = _merge(cursor, user_id, rows) if rows else (0, 0)
            now = timezone.now()
            cursor.execute(
                """
                UPDATE listening_history_syncstate
                SET cursor_ms = greatest(cursor_ms, %(newest)s), last_run_at = %(now)s,
                    last_added = %(added)s, total_added = total_added + %(added)s,
                    last_error = '', changed_at = CASE WHEN %(changed)s THEN %(now)s
                                                      ELSE changed_at END
                WHERE user_id = %(user)s
                """,
                {
                    "newest": newest,
                    "now": now,
                    "added": added,
                    "changed": bool(added or removed),
                    "user": user_id,
                },
            )
    return added


def _fence(cursor, user_id):
    """Lock the listener's row (KEY SHARE: disconnect waits) and their sync row (opting
    out waits); whether they are still here and opted in."""
    users = get_user_model()._meta.db_table
    cursor.execute(f"SELECT id FROM {users} WHERE id = %s FOR KEY SHARE", [user_id])
    if cursor.fetchone() is None:
        return False
    cursor.execute(
        "SELECT opted_in FROM listening_history_syncstate WHERE user_id = %s FOR UPDATE",
        [user_id],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def _merge(cursor, user_id, rows):
    """Keep the plays (SyncedPlay) and let the matcher decide which are entries of their
    own; returns (entries added, entries removed)."""
    raw = importer.RAW_TABLE
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {raw} ({importer.RAW_COLUMNS_SQL}) ON COMMIT DELETE ROWS"
    )
    cursor.execute(f"TRUNCATE {raw}")
    with cursor.cursor.copy(f"COPY {raw} ({', '.join(reader.COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    importer.store_lookups(cursor, user_id)
    cursor.execute(
        f"""
        INSERT INTO listening_history_syncedplay (user_id, played_at, item_id, ms_played)
        SELECT DISTINCT ON (r.ts, i.id) %s, r.ts, i.id, r.ms_played
        FROM {raw} r
        JOIN listening_history_item i ON i.user_id = %s AND i.key = r.item_key
        ORDER BY r.ts, i.id
        ON CONFLICT DO NOTHING
        """,
        [user_id, user_id],
    )
    if not cursor.rowcount:
        return 0, 0
    first, last = min(row[0] for row in rows), max(row[0] for row in rows)
    return matcher.resync(cursor, user_id=user_id, first=first, last=last)


def _millis(moment):
    return int(moment.timestamp() * 1000)


# --- retention ---------------------------------------------------------------------------


def purge_synced(*, dry_run=False, now=None):
    """Delete synced entries older than HISTORY_SYNC_RETENTION_DAYS (Spotify content
    is not kept indefinitely); imported entries are never touched. Returns the count."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.HISTORY_SYNC_RETENTION_DAYS)
    if dry_run:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM listening_history_entry WHERE source = %s AND ts < %s",
                [Source.SYNC, cutoff],
            )
            return cursor.fetchone()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM listening_history_syncedplay WHERE played_at < %s", [cutoff])
        cursor.execute(
            """
            WITH gone AS (
                DELETE FROM listening_history_entry WHERE source = %s AND ts < %s
                RETURNING user_id
            )
            SELECT user_id, count(*) FROM gone GROUP BY user_id
            """,
            [Source.SYNC, cutoff],
        )
        counts = dict(cursor.fetchall())
        # The summaries computed from them are stale now.
        cursor.execute(
            "UPDATE listening_history_syncstate SET changed_at = %s WHERE user_id = ANY(%s)",
            [timezone.now(), sorted(counts)],
        )
    for user_id in sorted(counts):
        # Names only those entries used; skipped while an import of theirs runs (its
        # staged rows, not yet committed, may use them), the next purge does it.
        with importer.listener_lock(user_id) as locked:
            if locked:
                with transaction.atomic(), connection.cursor() as cursor:
                    importer.collect_orphans(cursor, user_id)
    deleted = sum(counts.values())
    if deleted:
        logger.info("Purged %s synced entries older than %s", deleted, cutoff.date())
    return deleted
