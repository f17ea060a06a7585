"""Euterpe's caches: values are signed JSON, never pickles.

Django's cache backends unpickle what they read, so whoever may write the cache
table (on Essential plans the neighbour app's role is Euterpe's own) or the Redis
could run code in Euterpe's process, which holds ENCRYPTION_KEY. Here a value is
stored as JSON (bytes as base64), signed with an HMAC key derived from SECRET_KEY
(``django.core.signing``, salted). What does not verify is a miss, logged once per
process. The signature also keeps forged HTML off the dashboard: a cached section
is Euterpe's own rendered HTML, shown as it is.

Values must be JSON types (dict with str keys, list, str, int, float, bool,
None) or bytes; tuples come back as lists. Anything else is refused when set.

- ``DatabaseCache``: Django's database cache with that format, ``add`` as one
  atomic upsert, ``incr_counter`` for the rate limits, and ``set_many`` as one
  PostgreSQL upsert: a cold dashboard stores five sections at once, which Django
  writes one by one (a count, a select and an insert or update in its own
  transaction each). `make bench` measures both (its row "A cold page's cache
  write"): in eleven runs on 2 shared CPUs (December 2026) this upsert took p50
  2 to 12 ms, one set() after another 6 to 53 ms, 3 to 5 times as long. Keep it
  only while the benchmark shows that gain.
- ``RedisCache``: Django's Redis cache with that format. Plain integers stay raw,
  as in Django's own serializer, so that Redis's INCR counts rate limits.
"""

import base64
import json
import logging
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.db import DatabaseError, connections, router, transaction
from django.utils.timezone import now as tz_now

logger = logging.getLogger(__name__)

SALT = "euterpe_site.cache_backend"
BYTES_TAG = "__bytes__"


class UnverifiedEntry(Exception):
    """A cached value Euterpe did not write (or wrote under another SECRET_KEY)."""


def dumps(value):
    """``value`` as signed JSON text."""
    payload = json.dumps(value, default=_encode, separators=(",", ":"))
    return signing.Signer(salt=SALT).sign(payload)


def loads(text):
    """The value ``dumps`` wrote; UnverifiedEntry for anything else. Nothing is
    decoded before its signature is checked, and JSON cannot run code anyway."""
    try:
        payload = signing.Signer(salt=SALT).unsign(text)
    except signing.BadSignature:
        _warn_once()
        raise UnverifiedEntry from None
    return json.loads(payload, object_hook=_decode)


def _encode(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return {BYTES_TAG: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"Euterpe's cache stores JSON values and bytes, not {type(value).__name__}")


def _decode(obj):
    if len(obj) == 1 and BYTES_TAG in obj:
        return base64.b64decode(obj[BYTES_TAG])
    return obj


_warned = False


def _warn_once():
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "A cache entry failed its signature check and was treated as a miss: someone "
            "else wrote it, or SECRET_KEY changed. Further ones are not logged."
        )


# The database cache ------------------------------------------------------------


class DatabaseCache(DjangoDatabaseCache):
    def get_many(self, keys, version=None):
        if not keys:
            return {}
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        db = router.db_for_read(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT cache_key, value, expires < %s FROM {table} "
                f"WHERE cache_key IN ({', '.join(['%s'] * len(key_map))})",
                [_now(connection), *key_map],
            )
            rows = cursor.fetchall()
        found = {}
        expired = []
        for key, text, is_expired in rows:
            if is_expired:
                expired.append(key)
                continue
            try:
                found[key_map[key]] = loads(text)
            except UnverifiedEntry:
                continue
        self._base_delete_many(expired)
        return found

    def _base_set(self, mode, key, value, timeout=DEFAULT_TIMEOUT):
        """set, add or touch one key, each as one statement (plus culling)."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        expires = self._expires(connection, timeout)
        try:
            with transaction.atomic(using=db), connection.cursor() as cursor:
                if mode == "touch":
                    cursor.execute(
                        f"UPDATE {table} SET expires = %s WHERE cache_key = %s", [expires, key]
                    )
                    return cursor.rowcount > 0
                self._cull_when_full(db, cursor)
                # add: an existing entry is only replaced once it has expired.
                only_if_expired = f" WHERE {table}.expires < %s" if mode == "add" else ""
                cursor.execute(
                    f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, %s, %s) "
                    "ON CONFLICT (cache_key) DO UPDATE "
                    "SET value = EXCLUDED.value, expires = EXCLUDED.expires" + only_if_expired,
                    [key, dumps(value), expires] + ([_now(connection)] if mode == "add" else []),
                )
                return cursor.rowcount > 0
        except DatabaseError:
            # Like Django's own: a cache that cannot be written is no error.
            return False

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        if not data:
            return []
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        expires = self._expires(connection, timeout)
        rows = []
        for key, value in data.items():
            rows += [self.make_and_validate_key(key, version=version), dumps(value), expires]
        table = connection.ops.quote_name(self._table)
        try:
            # A savepoint inside a transaction: a failure must not abort the caller's.
            with transaction.atomic(using=db), connection.cursor() as cursor:
                self._cull_when_full(db, cursor)
                cursor.execute(
                    f"INSERT INTO {table} (cache_key, value, expires) VALUES "
                    + ", ".join(["(%s, %s, %s)"] * len(data))
                    + " ON CONFLICT (cache_key) DO UPDATE"
                    " SET value = EXCLUDED.value, expires = EXCLUDED.expires",
                    rows,
                )
        except DatabaseError:
            return list(data)
        return []

    def incr_counter(self, key, *, timeout, version=None):
        """Count one more under ``key``; the new count, in one atomic statement.

        A missing or expired entry starts at 1 and expires ``timeout`` seconds from
        now; an existing one is raised by 1 and keeps its expiry. Django's ``add()``
        then ``incr()`` is a read and a write apart, so parallel requests lose
        counts: an upsert that returns the count cannot. The value is stored as
        plain digits, not signed JSON: read counters through this method only
        (the rate limits do; ``get()`` would take one for a forged entry).
        """
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        now = tz_now().replace(microsecond=0)
        expires = connection.ops.adapt_datetimefield_value(now + timedelta(seconds=timeout))
        now = connection.ops.adapt_datetimefield_value(now)
        # A savepoint inside a transaction: a failure must not abort the caller's.
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS entry (cache_key, value, expires) VALUES (%s, '1', %s)"
                " ON CONFLICT (cache_key) DO UPDATE SET"
                " value = CASE WHEN entry.expires < %s THEN '1'"
                " ELSE (entry.value::bigint + 1)::text END,"
                " expires = CASE WHEN entry.expires < %s THEN EXCLUDED.expires"
                " ELSE entry.expires END"
                " RETURNING value::bigint",
                [key, expires, now, now],
            )
            return cursor.fetchone()[0]

    def _expires(self, connection, timeout):
        timeout = self.get_backend_timeout(timeout)
        expires = datetime.max if timeout is None else datetime.fromtimestamp(timeout, tz=UTC)
        return connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))

    def _cull_when_full(self, db, cursor):
        cursor.execute(f"SELECT COUNT(*) FROM {connections[db].ops.quote_name(self._table)}")
        count = cursor.fetchone()[0]
        if count > self._max_entries:
            self._cull(db, cursor, tz_now().replace(microsecond=0), count)


def _now(connection):
    # Python's clock, as Django's backend uses: PostgreSQL's now() stands still
    # for a whole transaction.
    return connection.ops.adapt_datetimefield_value(tz_now().replace(microsecond=0))


# Redis --------------------------------------------------------------------------


class RedisSerializer:
    """Django's Redis serializer with signed JSON instead of pickle."""

    def dumps(self, value):
        # Raw, like Django's: INCR needs a plain integer (bool is no int here).
        if type(value) is int:
            return value
        return dumps(value).encode()

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            pass
        try:
            text = data.decode()
        except UnicodeDecodeError:
            _warn_once()
            raise UnverifiedEntry from None
        return loads(text)


class _SignedRedisCacheClient(RedisCacheClient):
    """Reads an entry that does not verify as a miss."""

    def get(self, key, default):
        try:
            return super().get(key, default)
        except UnverifiedEntry:
            return default

    def get_many(self, keys):
        client = self.get_client(None)
        found = {}
        for key, data in zip(keys, client.mget(keys), strict=True):
            if data is None:
                continue
            try:
                found[key] = self._serializer.loads(data)
            except UnverifiedEntry:
                continue
        return found


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SignedRedisCacheClient
        self._options = {**self._options, "serializer": RedisSerializer}
