"""Keeping Euterpe inside its own PostgreSQL schema.

Every connection asks for `search_path=<DATABASE_SCHEMA>` in its startup packet
(see settings). A transaction pooler can silently drop that option, and then
tables would land in `public`, the neighbour app's schema. So Euterpe fails
closed: it checks `current_schema()` once when a process starts serving, in
`migrate` and in `dbcheck`, and refuses to run on a mismatch.
"""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse

logger = logging.getLogger(__name__)


class SchemaMismatch(Exception):
    """The connection's current schema is not DATABASE_SCHEMA."""


def schema_exists(conn, name):
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def ensure_schema(conn):
    """Create DATABASE_SCHEMA if it is missing.

    pg_namespace is checked first: `CREATE SCHEMA IF NOT EXISTS` fails for a
    role without CREATE on the database even when the schema already exists.
    """
    name = settings.DATABASE_SCHEMA
    if schema_exists(conn, name):
        return False
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {conn.ops.quote_name(name)}")
    logger.info("Created schema %s", name)
    return True


def verify_schema(conn):
    """Raise SchemaMismatch unless the connection writes into DATABASE_SCHEMA."""
    expected = settings.DATABASE_SCHEMA
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_schema(), current_setting('search_path')")
        current, search_path = cursor.fetchone()
    if current != expected:
        raise SchemaMismatch(
            f"Refusing to run: the database connection's current schema is {current!r} "
            f"(search_path {search_path!r}), not {expected!r}. Connect directly, not through "
            f"a transaction pooler that drops the startup option, and run `manage.py migrate`."
        )
    return search_path


class _Guard:
    """Remembers, per process, whether the schema check has passed."""

    verified = False

    def check(self):
        if not self.verified:
            try:
                verify_schema(connection)
            finally:
                connection.close()
            self.verified = True


guard = _Guard()


def verify_at_startup():
    """Called by wsgi.py as a worker boots: exit on a wrong schema.

    When the database cannot be reached at boot, the check is left to the first
    request (SchemaGuardMiddleware) rather than refusing to boot.
    """
    try:
        guard.check()
    except SchemaMismatch as error:
        raise SystemExit(str(error)) from None
    except DatabaseError as error:
        logger.warning("Schema check deferred to the first request: %s", error)


class SchemaGuardMiddleware:
    """Answers 503 rather than serve from a connection in the wrong schema."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not guard.verified:
            try:
                guard.check()
            except SchemaMismatch as error:
                logger.critical("%s", error)
                return HttpResponse(
                    "Euterpe is misconfigured: wrong database schema.",
                    status=503,
                    content_type="text/plain",
                )
            except DatabaseError:
                # The database is down; the view's own query will say so.
                pass
        return self.get_response(request)
