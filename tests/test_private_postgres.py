"""The private throwaway PostgreSQL of `make test`'s smoke run is really used."""

import os
from pathlib import Path

import pytest
from django.db import connection

from devtools import localdb


def _truthy(name):
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


@pytest.mark.smoke
def test_the_tests_talk_to_the_private_server_exactly_when_localdb_started_one(db):
    private_data = os.environ.get("EUTERPE_PRIVATE_POSTGRES_DATA")
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        data_directory = Path(cursor.fetchone()[0])

    if _truthy("EUTERPE_PRIVATE_POSTGRES"):
        # Forced: no silent fall-back to a server that happens to answer.
        assert private_data, "EUTERPE_PRIVATE_POSTGRES is set but no private server started"
    if private_data:
        assert data_directory.resolve() == Path(private_data).resolve()
        assert data_directory.parts[-2:] == ("var", "pgserver")
    else:
        assert data_directory.resolve() != localdb.PRIVATE_DATA_DIR.resolve()


def test_forcing_the_private_server_wins_over_database_url(monkeypatch):
    started = object()
    monkeypatch.delenv("EUTERPE_PRIVATE_POSTGRES_DATA", raising=False)
    monkeypatch.setenv("EUTERPE_PRIVATE_POSTGRES", "1")
    monkeypatch.setenv("DATABASE_URL", "postgres://someone@db.example.com/elsewhere")
    monkeypatch.setattr(localdb, "_start_private_server", lambda: ("private-url", started))

    assert localdb.resolve() == ("private-url", started)


def test_without_forcing_a_given_database_url_is_used(monkeypatch):
    monkeypatch.delenv("EUTERPE_PRIVATE_POSTGRES", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://someone@db.example.com/elsewhere")

    assert localdb.resolve() == ("postgres://someone@db.example.com/elsewhere", None)


def test_inside_a_run_that_started_the_private_server_it_is_used_again(monkeypatch):
    monkeypatch.setenv("EUTERPE_PRIVATE_POSTGRES", "1")
    monkeypatch.setenv("EUTERPE_PRIVATE_POSTGRES_DATA", "/somewhere/var/pgserver")
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@%2Fsomewhere%2Fvar%2Fpgserver/postgres")

    def must_not_start():
        raise AssertionError("a second private server was started")

    monkeypatch.setattr(localdb, "_start_private_server", must_not_start)

    assert localdb.resolve() == (os.environ["DATABASE_URL"], None)
