"""The database cache's table (settings.CACHE_TABLE), created by `migrate`.

Django's `createcachetable` is not run by migrate, and a fresh deploy only runs
migrate; it also creates nothing when REDIS_URL is set, while dbcheck expects the
table. The DDL is what createcachetable would issue for that table. Unqualified
names land in the search_path: the euterpe schema.
"""

from django.conf import settings
from django.db import migrations


def _sql(table):
    return [
        f'CREATE TABLE IF NOT EXISTS "{table}" ('
        '"cache_key" varchar(255) NOT NULL PRIMARY KEY, '
        '"value" text NOT NULL, '
        '"expires" timestamp with time zone NOT NULL)',
        f'CREATE INDEX IF NOT EXISTS "{table}_expires" ON "{table}" ("expires")',
    ]


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.RunSQL(
            sql=_sql(settings.CACHE_TABLE),
            reverse_sql=[f'DROP TABLE IF EXISTS "{settings.CACHE_TABLE}"'],
        ),
    ]
