"""euterpe_site.cache_backend: signed JSON, never pickles; set_many as one upsert."""

import base64
import logging
import pickle

import pytest
import redis
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from euterpe_site import cache_backend
from euterpe_site.cache_backend import DatabaseCache, RedisCache
from tests.support import HOSTILE_PICKLE, RAN, Hostile, settings_module


@pytest.fixture
def empty_cache(db):
    cache.clear()
    yield cache
    cache.clear()


def test_the_default_cache_is_the_upserting_database_cache(settings):
    assert isinstance(caches["default"], DatabaseCache)


def test_set_many_stores_every_value_where_djangos_own_get_finds_it(empty_cache):
    empty_cache.set_many({"a": {"html_z": b"\x00\x01", "fetched_at": 1.5}, "b": [1, "two"]}, 60)

    assert empty_cache.get("a") == {"html_z": b"\x00\x01", "fetched_at": 1.5}
    assert empty_cache.get_many(["a", "b", "c"]) == {
        "a": {"html_z": b"\x00\x01", "fetched_at": 1.5},
        "b": [1, "two"],
    }


def test_set_many_overwrites_existing_keys_and_their_expiry(empty_cache):
    empty_cache.set("a", "old", 1)
    empty_cache.set_many({"a": "new"}, 3600)

    assert empty_cache.get("a") == "new"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT expires > now() + interval '30 minutes' FROM euterpe_cache "
            "WHERE cache_key = %s",
            [empty_cache.make_key("a")],
        )
        assert cursor.fetchone() == (True,)


def test_set_many_writes_all_keys_in_one_statement(empty_cache):
    with CaptureQueriesContext(connection) as queries:
        empty_cache.set_many({f"k{i}": i for i in range(5)}, 60)

    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2  # the count, then the upsert
    assert empty_cache.get_many([f"k{i}" for i in range(5)]) == {f"k{i}": i for i in range(5)}


def test_set_many_honours_the_key_version(empty_cache):
    empty_cache.set_many({"a": "v2"}, 60, version=2)

    assert empty_cache.get("a") is None
    assert empty_cache.get("a", version=2) == "v2"


def test_set_many_without_a_timeout_keeps_the_value(empty_cache):
    empty_cache.set_many({"forever": 1}, None)

    assert empty_cache.get("forever") == 1


def test_set_many_culls_when_the_table_is_over_its_size(empty_cache, settings):
    small = DatabaseCache("euterpe_cache", {"OPTIONS": {"MAX_ENTRIES": 3, "CULL_FREQUENCY": 2}})
    small.set_many({f"old{i}": i for i in range(5)}, 60)

    small.set_many({"fresh": "yes"}, 60)

    assert small.get("fresh") == "yes"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM euterpe_cache")
        # Django's culling: 5 rows over a maximum of 3 lose 5 // 2 = 2 of them.
        assert cursor.fetchone()[0] == 4


def test_set_many_of_nothing_writes_nothing(empty_cache):
    with CaptureQueriesContext(connection) as queries:
        assert empty_cache.set_many({}, 60) == []
    assert queries.captured_queries == []


def test_set_many_that_cannot_write_reports_the_keys_and_leaves_the_transaction_usable(
    empty_cache,
):
    missing_table = DatabaseCache("no_such_cache_table", {})

    assert missing_table.set_many({"a": 1, "b": 2}, 60) == ["a", "b"]

    empty_cache.set_many({"still": "works"}, 60)
    assert empty_cache.get("still") == "works"


def test_incr_counter_starts_at_one_and_counts_up_in_one_statement(empty_cache):
    with CaptureQueriesContext(connection) as queries:
        counts = [empty_cache.incr_counter("hits", timeout=60) for _ in range(3)]

    assert counts == [1, 2, 3]
    assert len([q for q in queries if q["sql"].startswith("INSERT")]) == 3
    assert not [q for q in queries if q["sql"].startswith(("SELECT", "UPDATE"))]


def test_incr_counter_starts_again_at_one_once_the_entry_expired(empty_cache):
    empty_cache.incr_counter("hits", timeout=60)
    empty_cache.incr_counter("hits", timeout=60)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE euterpe_cache SET expires = now() - interval '1 second' WHERE cache_key = %s",
            [empty_cache.make_key("hits")],
        )

    assert empty_cache.incr_counter("hits", timeout=60) == 1
    assert empty_cache.incr_counter("hits", timeout=60) == 2


# Never a pickle ------------------------------------------------------------------


@pytest.fixture
def warnings_again(monkeypatch, caplog):
    """The once-per-process warning, fresh for this test."""
    monkeypatch.setattr(cache_backend, "_warned", False)
    caplog.set_level(logging.WARNING, logger="euterpe_site.cache_backend")
    RAN.clear()
    return caplog


def _write_raw(key, text):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO euterpe_cache (cache_key, value, expires) "
            "VALUES (%s, %s, now() + interval '1 hour') "
            "ON CONFLICT (cache_key) DO UPDATE SET value = EXCLUDED.value",
            [cache.make_key(key), text],
        )


def _unverified_warnings(caplog):
    return [r for r in caplog.records if "failed its signature check" in r.getMessage()]


def test_the_hostile_pickle_runs_code_when_unpickled():
    """The test's own premise: Django's format would run it."""
    RAN.clear()
    pickle.loads(HOSTILE_PICKLE)  # noqa: S301 (the point of this test)
    assert RAN == ["code ran"]
    RAN.clear()


def test_a_hostile_pickle_in_the_cache_table_is_never_loaded(empty_cache, warnings_again):
    # Exactly what Django's database cache writes and reads: base64 of a pickle.
    _write_raw("spotify:v2:1:profile", base64.b64encode(HOSTILE_PICKLE).decode())

    assert empty_cache.get("spotify:v2:1:profile") is None
    assert empty_cache.get_many(["spotify:v2:1:profile"]) == {}
    assert empty_cache.get_or_set("spotify:v2:1:profile", "fresh") == "fresh"

    assert RAN == []
    assert len(_unverified_warnings(warnings_again)) == 1


def test_an_entry_signed_with_another_key_is_a_miss_logged_once(empty_cache, warnings_again):
    with override_settings(SECRET_KEY="someone-elses-key-0123456789-abcdefghijklmnopqrstu"):
        forged = cache_backend.dumps({"html_z": b"<script>alert(1)</script>", "fetched_at": 1.0})
    _write_raw("forged-a", forged)
    _write_raw("forged-b", forged)

    assert empty_cache.get_many(["forged-a", "forged-b"]) == {}
    assert empty_cache.get("forged-a") is None

    assert len(_unverified_warnings(warnings_again)) == 1


def test_a_tampered_value_is_a_miss(empty_cache, warnings_again):
    empty_cache.set("claim", {"admin": False}, 60)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE euterpe_cache SET value = replace(value, 'false', 'true ') "
            "WHERE cache_key = %s",
            [cache.make_key("claim")],
        )

    assert empty_cache.get("claim") is None


def test_values_are_stored_as_signed_json(empty_cache):
    empty_cache.set("a", {"html_z": b"\x00\xff", "fetched_at": 1.5}, 60)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value FROM euterpe_cache WHERE cache_key = %s", [cache.make_key("a")]
        )
        (text,) = cursor.fetchone()
    payload, _, signature = text.rpartition(":")
    assert payload == '{"html_z":{"__bytes__":"AP8="},"fetched_at":1.5}'
    assert len(signature) >= 43


@pytest.mark.parametrize(
    "value",
    [
        {"html_z": b"\x00\x01 compressed", "fetched_at": 1754300000.25},
        True,
        1754300000.5,
        7,
        "text with : colons",
        ["a", 1, None, {"nested": b"bytes"}],
        None,
    ],
)
def test_every_kind_of_value_euterpe_caches_comes_back_as_it_was(empty_cache, value):
    empty_cache.set("k", value, 60)
    empty_cache.set_many({"m": value}, 60)

    assert empty_cache.get("k", "missing") == value
    assert empty_cache.get_many(["m"]) == {"m": value}


def test_a_value_json_cannot_hold_is_refused_when_set(empty_cache):
    with pytest.raises(TypeError, match="JSON values and bytes, not Hostile"):
        empty_cache.set("k", Hostile(), 60)


def test_add_incr_touch_and_expiry_behave_as_djangos(empty_cache):
    assert empty_cache.add("counter", 0, 60) is True
    assert empty_cache.add("counter", 5, 60) is False
    assert empty_cache.incr("counter") == 1
    assert empty_cache.touch("counter", 120) is True
    assert empty_cache.touch("nothing", 120) is False
    empty_cache.set("gone", "x", -1)
    assert empty_cache.get("gone") is None
    assert empty_cache.add("gone", "again", 60) is True
    assert empty_cache.get("gone") == "again"


# Redis ------------------------------------------------------------------------------


@pytest.fixture
def redis_cache(redis_url):
    backend = RedisCache(redis_url, {"KEY_PREFIX": "euterpe"})
    backend.clear()
    yield backend, redis.Redis.from_url(redis_url)
    backend.clear()


def test_a_hostile_pickle_in_redis_is_never_loaded(redis_cache, warnings_again):
    backend, raw = redis_cache
    # Exactly what Django's Redis cache writes and reads: a bare pickle.
    raw.set(backend.make_key("spotify:v2:1:profile"), HOSTILE_PICKLE)

    assert backend.get("spotify:v2:1:profile") is None
    assert backend.get_many(["spotify:v2:1:profile"]) == {}

    assert RAN == []
    assert len(_unverified_warnings(warnings_again)) == 1


def test_redis_keeps_values_and_counts_with_incr(redis_cache):
    backend, raw = redis_cache
    value = {"html_z": b"\x00\x01", "fetched_at": 1.5}

    backend.set_many({"section": value}, 60)
    assert backend.add("counter", 0, 60) is True

    assert backend.get_many(["section"]) == {"section": value}
    assert backend.get("section") == value
    assert backend.incr("counter") == 1
    assert raw.get(backend.make_key("counter")) == b"1"


def test_with_redis_url_set_the_signing_redis_cache_is_used():
    caches_setting = settings_module(REDIS_URL="rediss://:secret@redis.example.com:6379")["CACHES"]

    assert caches_setting["default"]["BACKEND"] == "euterpe_site.cache_backend.RedisCache"
    assert caches_setting["default"]["OPTIONS"] == {"ssl_cert_reqs": "none"}
