"""The database cache's table, created by `migrate`.

Django's `createcachetable` is not run by migrate, and a fresh deploy only runs
migrate; the DDL is what createcachetable would issue for the `euterpe_cache`
LOCATION in settings. Unqualified names land in the search_path: the euterpe schema.
"""

from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.RunSQL(
            sql=[
                'CREATE TABLE IF NOT EXISTS "euterpe_cache" ('
                '"cache_key" varchar(255) NOT NULL PRIMARY KEY, '
                '"value" text NOT NULL, '
                '"expires" timestamp with time zone NOT NULL)',
                'CREATE INDEX IF NOT EXISTS "euterpe_cache_expires" ON "euterpe_cache" ("expires")',
            ],
            reverse_sql=['DROP TABLE IF EXISTS "euterpe_cache"'],
        ),
    ]
