"""Throwaway databases for tests that must not touch the shared test database.

Migrating costs a second or two, so one database is migrated once per session
(by `manage.py migrate` in a fresh process, neighbour tables included) and each
destructive test gets a copy of it (CREATE DATABASE ... TEMPLATE, which is fast).
"""

import pytest

from devtools.databases import DATABASE_PREFIX, ROLE_PREFIX, create_with_neighbour, unique_name
from devtools.processes import manage
from tests.support import production_env, server_connection


def _drop_database(name):
    with server_connection() as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database():
    """A new, empty database with the neighbour's tables in public."""
    name = unique_name(f"{DATABASE_PREFIX}_empty")
    create_with_neighbour(name, server_connection)
    yield name
    _drop_database(name)


@pytest.fixture(scope="session")
def migrated_template():
    """(name, completed `migrate` process) of a fresh database migrated once."""
    name = unique_name(f"{DATABASE_PREFIX}_template")
    create_with_neighbour(name, server_connection)
    migrate = manage("migrate", "--noinput", env=production_env(name))
    assert migrate.returncode == 0, migrate.stderr
    yield name, migrate
    _drop_database(name)


@pytest.fixture
def migrated_database(migrated_template):
    """A private copy of the migrated database, to break as a test likes."""
    template, _ = migrated_template
    name = unique_name(f"{DATABASE_PREFIX}_copy")
    with server_connection() as server:
        server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield name
    _drop_database(name)


@pytest.fixture
def login_role(empty_database):
    """(name, password) of a new LOGIN role with no privileges beyond PUBLIC's,
    for use in empty_database."""
    name = unique_name(ROLE_PREFIX)
    password = "role-password"
    with server_connection() as server:
        server.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    yield name, password
    with server_connection(empty_database) as database:
        database.execute(f'DROP OWNED BY "{name}"')
    with server_connection() as server:
        server.execute(f'DROP ROLE "{name}"')
