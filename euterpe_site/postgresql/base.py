"""Django's PostgreSQL backend, plus creating Euterpe's schema before migrate.

`migrate` calls prepare_database() before it creates django_migrations, which is
the first moment the schema must exist; a RunSQL migration would be too late.
"""

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper

from euterpe_site import schema


class DatabaseWrapper(PostgresDatabaseWrapper):
    def prepare_database(self):
        super().prepare_database()
        schema.ensure_schema(self)
        schema.verify_schema(self)
