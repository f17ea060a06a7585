"""Throwaway databases and roles on a shared PostgreSQL, and dropping what killed runs left.

Every throwaway name ends with the pid of the process that made it
(:func:`unique_name`), so a later run can tell a database still in use from one
whose run was killed: :func:`drop_abandoned` drops those of dead processes. The
test session (``test_euterpe_<pid>``), the tests' scratch databases and roles,
and devtools.stack's databases all follow it; several engineers and runs share
one server, so nothing else is ever dropped.
"""

import contextlib
import os
import uuid

import psycopg

from devtools.neighbour import NEIGHBOUR_SQL

# Every throwaway database is named test_euterpe_..._<pid>, every role euterpe_role_..._<pid>.
DATABASE_PREFIX = "test_euterpe"
ROLE_PREFIX = "euterpe_role"


def unique_name(prefix: str) -> str:
    """A database or role name no concurrent run will pick, ending with this process's pid."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}_{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def abandoned(name: str) -> bool:
    """Whether the run that named this database or role is gone (its last ``_`` part is a pid)."""
    pid = name.rsplit("_", 1)[-1]
    return pid.isdigit() and not process_alive(int(pid))


def create_with_neighbour(name: str, connect) -> None:
    """Create database ``name`` with the neighbour app's tables, with data, in its ``public``:
    the database as production finds it before Euterpe migrates.

    ``connect(dbname)`` opens an autocommit superuser connection; ``connect()`` one to
    the server's maintenance database.
    """
    with connect() as server:
        server.execute(f'CREATE DATABASE "{name}"')
    with connect(name) as database:
        database.execute(NEIGHBOUR_SQL)


def drop_abandoned(server: psycopg.Connection) -> None:
    """Drop the throwaway databases and roles of runs whose process is gone.

    ``server`` is an autocommit connection as a superuser (or the owner of them all).
    """
    databases = server.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", [_like(DATABASE_PREFIX)]
    ).fetchall()
    for (name,) in databases:
        if abandoned(name):
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    roles = server.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [_like(ROLE_PREFIX)]
    ).fetchall()
    for (name,) in roles:
        if abandoned(name):
            # A role that still holds a grant elsewhere stays; it harms nothing.
            with contextlib.suppress(psycopg.Error):
                server.execute(f'DROP ROLE IF EXISTS "{name}"')


def _like(prefix: str) -> str:
    """``prefix_`` followed by anything, as a LIKE pattern (``_`` is a wildcard there)."""
    return prefix.replace("_", "\\_") + "\\_%"
