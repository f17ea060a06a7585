"""euterpe_site.cache_backend: Django's database cache with set_many as one upsert."""

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from euterpe_site.cache_backend import DatabaseCache


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
