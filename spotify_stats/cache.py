"""Where the dashboard keeps what it fetched from Spotify: the keys and the entries.

Keys are built from the listener's user id, so entries can never mix listeners,
and they are enumerable, so disconnecting deletes every one of them.
"""

import zlib

from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone

from accounts.spotify_backoff import BACKOFF_KEY  # noqa: F401 (imported from here too)
from spotify_client import TIME_RANGES
from spotify_stats import sections

# Part of every key: bump it when what a section's entry holds changes shape, so a
# deploy never reads entries the previous release wrote (they expire on their own).
ENTRY_FORMAT = "v2"


# Not Spotify content and no listener's: set while Spotify hangs (backoff.note_stall).
# Until when Spotify's Retry-After holds for the whole app is accounts' (the history
# sync honours it too): BACKOFF_KEY.
STALLED_KEY = "spotify:stalled"
# The listener who last saw Spotify stall (backoff.note_stall): the mark needs two.
STALL_WITNESS_KEY = "spotify:stall-witness"


def section_key(user_id, name, time_range=None):
    suffix = f":{time_range}" if time_range else ""
    return f"spotify:{ENTRY_FORMAT}:{user_id}:{name}{suffix}"


def key_for(user_id, section, time_range):
    """The key of ``section`` on a page for ``time_range``: one per listener, and
    one per listener and time range for a ranged section."""
    return section_key(user_id, section.name, time_range if section.ranged else None)


def listener_keys(user_id):
    """Every key a listener's sections may be cached under."""
    return [
        section_key(user_id, section.name, time_range)
        for section in sections.SECTIONS
        for time_range in (TIME_RANGES if section.ranged else (None,))
    ]


def pack(html, fetched_at):
    """A cache entry: the section's HTML, zlib-compressed (about 7x smaller, so a warm
    page moves less over the wire from the cache), and when Spotify sent its data."""
    return {"html_z": zlib.compress(html.encode(), 1), "fetched_at": fetched_at}


def is_entry(value):
    """Whether a cached value has the shape ``pack`` gives. On Redis a plain integer
    is stored unsigned (so that INCR works); whoever else can write there could put
    one under a section's key, and the page fetches that section anew instead."""
    return isinstance(value, dict) and isinstance(value.get("html_z"), bytes)


def unpack(entry):
    """``(html, fetched_at)`` of a cache entry ``pack`` made."""
    return zlib.decompress(entry["html_z"]).decode(), entry["fetched_at"]


def forget_sections(user_id):
    """Delete every cached Spotify section of one listener ("Refresh now")."""
    cache.delete_many(listener_keys(user_id))


def forget_listener(user_id):
    """Delete every cached entry of one listener (disconnect, a user deleted anywhere):
    their Spotify data, their "Refresh now" claim, and their stall sighting."""
    cache.delete_many([*listener_keys(user_id), refresh_key(user_id)])
    if cache.get(STALL_WITNESS_KEY) == user_id:
        cache.delete(STALL_WITNESS_KEY)


def store_sections(user_id, entries, *, timeout):
    """Cache a listener's freshly fetched sections, unless the listener is gone.

    A cold page can still be waiting on Spotify when its listener disconnects in
    another tab; its write must not outlive the deletion. On the database cache
    the write happens in one transaction with a share lock on the user's row: a
    deletion either committed before (the row is gone: nothing is written) or
    waits for this write and then forgets it (the deletion forgets the listener's
    entries once it commits). Redis has no transaction with the database, so the
    entries are written, then the user looked up, and deleted again if they are
    gone; a deletion committing after that look-up forgets them itself.
    Returns whether the entries were kept.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, DatabaseCache):
        db = router.db_for_write(backend.cache_model_class)
        with transaction.atomic(using=db):
            if not _lock_listener_row(db, user_id):
                return False
            backend.set_many(entries, timeout=timeout)
        return True
    backend.set_many(entries, timeout=timeout)
    if get_user_model().objects.filter(pk=user_id).exists():
        return True
    backend.delete_many(list(entries))
    return False


def _lock_listener_row(db, user_id):
    """Whether the user exists; their row share-locked until the transaction ends
    (a concurrent DELETE of it waits)."""
    user_model = get_user_model()
    connection = connections[db]
    table = connection.ops.quote_name(user_model._meta.db_table)
    column = connection.ops.quote_name(user_model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {column} = %s FOR SHARE", [user_id])
        return cursor.fetchone() is not None


def refresh_key(user_id):
    return f"spotify:{user_id}:refresh-claimed"


def claim_refresh(user_id, *, seconds):
    """True when the listener may refresh now (at most once per ``seconds``).

    ``cache.add`` is atomic on every backend Euterpe uses (database, Redis), so two
    workers pressing at once cannot both win.
    """
    return cache.add(refresh_key(user_id), True, timeout=seconds)


def second_stall_witness(user_id, *, seconds):
    """Record that Spotify stalled for listener ``user_id``; True when another
    listener saw it stall within the last ``seconds`` too.

    The first witness is kept with ``cache.add`` (atomic), so one listener seeing
    Spotify hang again and again, however often, is never two witnesses.
    """
    if cache.add(STALL_WITNESS_KEY, user_id, timeout=seconds):
        return False
    first = cache.get(STALL_WITNESS_KEY)
    return first is not None and first != user_id


def purge_expired_entries(*, dry_run=False):
    """Delete the cache's expired entries; how many (None when the backend expires its own).

    Django's database cache only drops an expired row when that key is read again
    or when culling, so rows of listeners who never come back would stay: Spotify's
    terms want them gone. Redis expires keys by itself.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, DatabaseCache):
        return None
    db = connections[router.db_for_write(backend.cache_model_class)]
    quoted = db.ops.quote_name(backend._table)
    now = db.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))
    verb = "SELECT count(*)" if dry_run else "DELETE"
    with db.cursor() as cursor:
        cursor.execute(f"{verb} FROM {quoted} WHERE expires < %s", [now])
        return cursor.fetchone()[0] if dry_run else cursor.rowcount
