"""Keeping Euterpe inside its own PostgreSQL schema.

Every connection asks for `search_path=<DATABASE_SCHEMA>` in its startup packet
(see settings). A pooler can silently drop that option, and then the role's or
the database's own search_path decides: tables would land in `public`, the
neighbour app's schema, or names Euterpe has not created yet (django_migrations,
django_session) would resolve to the neighbour's tables while `current_schema()`
still looks right. So Euterpe fails closed: the effective path,
`current_schemas(false)` (pg_catalog and pg_temp are implicit), must be
DATABASE_SCHEMA alone, or it refuses to run.

One check (:func:`check_search_path`, one query), run in these places:

- The guard: the database backend's connection hook (:func:`guard_connection`,
  called by euterpe_site.postgresql) checks each process's first connection,
  whatever the process runs (web, migrate, purge_expired, shell), before
  anything can be written. It lets a schema that does not exist yet through, so
  that `migrate` can create it.
- The start-up check: :func:`verify_at_startup`, as a gunicorn worker boots,
  also refuses a missing schema, and exits so that gunicorn stops.
- `migrate` before its first write and `dbcheck` call :func:`verify_schema`.
"""

import logging
import sys

from django.conf import settings
from django.db import DatabaseError, ProgrammingError, connection
from django.db.backends.base.base import NO_DB_ALIAS

logger = logging.getLogger(__name__)

WORKER_BOOT_ERROR = 3


class SchemaError(Exception):
    """Euterpe's schema cannot be used; the message says what to do."""


class SchemaMismatch(SchemaError):
    """The connection searches another schema than DATABASE_SCHEMA, or more."""


class SchemaNotCreated(SchemaError):
    """DATABASE_SCHEMA is missing and this role may not create it."""


def schema_exists(conn, name):
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def ensure_schema(conn):
    """Create DATABASE_SCHEMA if it is missing; return whether it did.

    pg_namespace is checked first: `CREATE SCHEMA IF NOT EXISTS` fails for a
    role without CREATE on the database even when the schema already exists.
    Raises SchemaNotCreated when the schema is missing and the role lacks that
    privilege.
    """
    name = settings.DATABASE_SCHEMA
    if schema_exists(conn, name):
        return False
    quoted = conn.ops.quote_name(name)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    except ProgrammingError as error:
        # psycopg's InsufficientPrivilege, wrapped by Django.
        if getattr(error.__cause__, "sqlstate", None) != "42501":
            raise
        with conn.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            role, database = cursor.fetchone()
        raise SchemaNotCreated(
            f"Schema {name!r} does not exist and role {role!r} may not create schemas in "
            f"database {database!r}. Ask the database owner to run: "
            f"CREATE SCHEMA {quoted} AUTHORIZATION {conn.ops.quote_name(role)};"
        ) from None
    logger.info("Created schema %s", name)
    return True


def check_search_path(cursor, *, missing_ok=False):
    """The search_path when the connection searches DATABASE_SCHEMA alone; else SchemaMismatch.

    With ``missing_ok``, a path naming DATABASE_SCHEMA alone whose schema does
    not exist yet (``current_schemas()`` is empty) passes too, and None is
    returned: nothing can be written then, and `migrate` must be able to create it.
    """
    expected = settings.DATABASE_SCHEMA
    cursor.execute("SELECT current_schemas(false)::text[], current_setting('search_path')")
    schemas, search_path = cursor.fetchone()
    if list(schemas) == [expected]:
        return search_path
    if not schemas and _names_only(search_path, expected):
        if missing_ok:
            return None
        raise SchemaMismatch(
            f"Refusing to run: schema {expected!r} does not exist or this role may not use "
            f"it (search_path {search_path!r}). Run `manage.py migrate` to create it."
        )
    raise SchemaMismatch(_mismatch_message(list(schemas), search_path))


def _names_only(search_path, name):
    """Whether the search_path setting names ``name`` and nothing else."""
    return [part.strip().strip('"') for part in search_path.split(",")] == [name]


def verify_schema(conn):
    """Return the search_path, or raise SchemaMismatch unless the connection
    searches DATABASE_SCHEMA alone (a missing schema refused too)."""
    with conn.cursor() as cursor:
        return check_search_path(cursor)


# Aliases whose connections this process has seen searching DATABASE_SCHEMA alone.
_checked_aliases = set()


def guard_connection(conn):
    """Raise SchemaMismatch unless a new connection searches DATABASE_SCHEMA alone.

    Runs as each connection starts (with the pool, at every checkout) but queries
    once per process and alias, once it passed. A schema that does not exist yet
    is let through (see :func:`check_search_path`). Django's own connection to the
    `postgres` database (creating the test database) is left alone.
    """
    if conn.alias in _checked_aliases or conn.alias == NO_DB_ALIAS:
        return
    with conn.connection.cursor() as cursor:
        if check_search_path(cursor, missing_ok=True) is not None:
            _checked_aliases.add(conn.alias)


def _mismatch_message(schemas, search_path):
    searched = ", ".join(repr(name) for name in schemas) or "no schema"
    return (
        f"Refusing to run: the database connection searches {searched} "
        f"(search_path {search_path!r}), not {settings.DATABASE_SCHEMA!r} alone. Connect "
        f"directly, not through a pooler that drops the startup option, or pin the role's "
        f"path: ALTER ROLE ... SET search_path = {settings.DATABASE_SCHEMA}."
    )


def verify_at_startup():
    """The start-up check, called by wsgi.py as a worker boots: exit on a wrong schema.

    Connecting runs the guard; a schema the guard let through because it does
    not exist yet is refused here. When the database cannot be reached at boot,
    the worker boots anyway: the guard checks the first connection that opens.
    """
    try:
        connection.ensure_connection()
        if connection.alias not in _checked_aliases:
            verify_schema(connection)
    except SchemaMismatch as error:
        print(error, file=sys.stderr, flush=True)
        # 3 is gunicorn's "worker failed to boot": the master stops instead of
        # starting workers forever.
        raise SystemExit(WORKER_BOOT_ERROR) from None
    except DatabaseError as error:
        logger.warning("Schema check deferred to the first request: %s", error)
    finally:
        # Hand the connection back to the pool rather than hold it while idle.
        connection.close()
