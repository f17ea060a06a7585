"""Django's PostgreSQL backend, plus Euterpe's schema: refused when wrong, created
before migrate.

`migrate` calls prepare_database() before it creates django_migrations, which is
the first moment the schema must exist; a RunSQL migration would be too late.
"""

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper

from euterpe_site import schema


class DatabaseWrapper(PostgresDatabaseWrapper):
    def init_connection_state(self):
        super().init_connection_state()
        # Every process, whatever it runs (web, migrate, purge_expired, shell),
        # refuses a connection that would write outside DATABASE_SCHEMA.
        schema.guard_connection(self)

    def prepare_database(self):
        super().prepare_database()
        schema.ensure_schema(self)
        schema.verify_schema(self)
