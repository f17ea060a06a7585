"""Test set-up shared by every app's tests.

The test database is built the way production finds it: the neighbour app's
tables (with data) are already in `public` before Euterpe migrates, and the
session ends by proving that nothing Euterpe did touched them.
"""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
from django.db import connection, connections

from devtools import databases
from devtools.neighbour import fingerprint
from tests.support import server_connection

# The fake Spotify's fixtures (fake_spotify, spotify_login, ...) for every app's tests.
pytest_plugins = ["devtools.fakespotify.pytest_plugin"]


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker):
    from django.test.utils import setup_databases, teardown_databases

    if not os.environ.get("TEST_DATABASE_URL"):
        # One database per test run, so that concurrent runs never collide.
        connection.settings_dict["TEST"]["NAME"] = f"{databases.DATABASE_PREFIX}_{os.getpid()}"
    test_name = connection.creation._get_test_db_name()
    with django_db_blocker.unblock():
        with server_connection("postgres") as server:
            databases.drop_abandoned(server)
            server.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
        databases.create_with_neighbour(test_name, server_connection)
        with server_connection(test_name) as neighbour:
            before = fingerprint(neighbour.cursor())
        # keepdb: use the database just built (neighbour included) and migrate it.
        db_config = setup_databases(verbosity=0, interactive=False, keepdb=True)

    yield

    with django_db_blocker.unblock():
        with server_connection(test_name) as neighbour:
            after = fingerprint(neighbour.cursor())
            recorded = neighbour.execute(
                "SELECT count(*) FROM euterpe.django_migrations WHERE app = 'euterpe_site'"
            ).fetchone()[0]
        teardown_databases(db_config, verbosity=0, keepdb=True)
        for conn in connections.all():
            conn.close_pool() if hasattr(conn, "close_pool") else conn.close()
        with server_connection("postgres") as server:
            server.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
    assert after == before, "Euterpe changed the neighbour app's tables in public"
    assert recorded >= 1, "Euterpe's migrations are not recorded in euterpe.django_migrations"


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path_factory):
    # Plain static storage: the manifest one needs collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # WhiteNoise rescans STATIC_ROOT for every test client: keep it away from the
    # project's staticfiles/, which `collectstatic` (e2e, bench) rewrites meanwhile.
    settings.STATIC_ROOT = tmp_path_factory.getbasetemp() / "no-staticfiles"
    # MD5 makes password hashing fast; never in production.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Fixed-window counts would carry over from test to test and make outcomes
    # depend on order; tests/test_ratelimit.py turns the limits on.
    settings.RATELIMIT_ENABLE = False


@pytest.fixture
def client():
    """A test client that behaves like a browser behind Heroku's HTTPS router."""
    from django.test import Client

    return Client(headers={"X-Forwarded-Proto": "https"})


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private, throwaway Redis for the tests that prove what Euterpe does with
    ``REDIS_URL`` set: Debian's ``redis-server`` when it is on PATH (CI has it).

    A laptop without one gets fakeredis's Redis server, a Python implementation
    of Redis's commands behind a real TCP socket, so that ``make test`` needs
    nothing but Python (as it needs no PostgreSQL either); Euterpe's code talks to
    it over the network exactly as it talks to Redis.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        yield from _python_redis()
        return
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(  # noqa: S603 (redis-server from PATH, our arguments)
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _python_redis():
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    finally:
        server.shutdown()
        server.server_close()
