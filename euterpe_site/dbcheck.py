"""The database health report behind `manage.py dbcheck` and `GET /db_check`."""

from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.migrations.executor import MigrationExecutor
from psycopg_pool import PoolTimeout

from euterpe_site import schema

# Apps whose tables are Euterpe's alone: one of them in `public` is a leak.
OWN_APPS = (
    "accounts",
    "spotify_stats",
    "listening_history",
    "django_tasks_database",
    "social_django",
)
# Tables whose size counts against HISTORY_STORAGE_BUDGET_MB.
HISTORY_TABLE_PREFIX = "listening_history_"
# dbcheck warns once history takes this share of its budget.
HISTORY_BUDGET_WARNING = 0.8
MB = 1024 * 1024


@dataclass
class Report:
    schema: str
    search_path: str = ""
    steps: list = field(default_factory=list)  # (ok: bool, text)
    tables: list = field(default_factory=list)
    missing_tables: list = field(default_factory=list)
    unowned_tables: list = field(default_factory=list)
    unapplied_migrations: list = field(default_factory=list)
    leaked_tables: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    users_count: int | None = None
    schema_size_bytes: int | None = None
    database_size_bytes: int | None = None
    history_size_bytes: int | None = None
    history_budget_bytes: int | None = None
    warnings: list = field(default_factory=list)

    @property
    def healthy(self):
        return not self.problems

    def step(self, ok, text):
        self.steps.append((ok, text))
        if not ok:
            self.problems.append(text)

    def as_json(self):
        return {
            "status": "ok" if self.healthy else "error",
            "schema": self.schema,
            "search_path": self.search_path,
            "tables": self.tables,
            "users_count": self.users_count,
            "public_safety_check": "passed" if not self.leaked_tables else "failed",
            "missing_tables": self.missing_tables,
            "unapplied_migrations": self.unapplied_migrations,
            "unowned_tables": self.unowned_tables,
            "notes": self.notes,
            "problems": self.problems,
            "schema_size_bytes": self.schema_size_bytes,
            "database_size_bytes": self.database_size_bytes,
            "history_size_bytes": self.history_size_bytes,
            "history_budget_bytes": self.history_budget_bytes,
            "warnings": self.warnings,
        }


def _tables_in(cursor, schema_name):
    # pg_tables, not information_schema: it also lists tables this role has no
    # privilege on (the neighbour's, or the old Flask deployment's).
    cursor.execute(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s ORDER BY tablename",
        [schema_name],
    )
    return [row[0] for row in cursor.fetchall()]


def expected_tables(connection):
    """Every table Euterpe's installed models need, plus migrate's own two."""
    names = set(connection.introspection.django_table_names(only_existing=False))
    return names | {"django_migrations", settings.CACHE_TABLE}


def own_tables():
    names = {settings.CACHE_TABLE}
    for label in OWN_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            names.add(model._meta.db_table)
    return names


def run(connection):
    """Inspect the database and return a Report; never raises DatabaseError or SchemaError."""
    report = Report(schema=settings.DATABASE_SCHEMA)
    try:
        _inspect(connection, report)
    except schema.SchemaError as error:
        # The guard refused the connection as it started (a path beyond the schema).
        report.step(False, str(error))
    except DatabaseError as error:
        report.step(False, f"Database error: {_connection_failure(connection, error)}")
    return report


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _connection_failure(connection, error):
    """The first line of what went wrong. psycopg's pool only says it timed out
    (a pooler refusing the startup option, say): one direct attempt says why."""
    if not isinstance(error.__cause__, PoolTimeout):
        return _first_line(error)
    try:
        connection.Database.connect(**connection.get_connection_params()).close()
    except connection.Database.Error as direct:
        return _first_line(direct)
    return _first_line(error)


def _inspect(connection, report):
    name = report.schema
    connection.ensure_connection()
    report.step(True, f"Connected to database {connection.settings_dict['NAME']!r}")

    if not schema.schema_exists(connection, name):
        report.step(False, f"Schema {name!r} does not exist: run `manage.py migrate`")
        return
    report.step(True, f"Schema {name!r} exists")
    try:
        report.search_path = schema.verify_schema(connection)
    except schema.SchemaMismatch as error:
        report.step(False, str(error))
        return
    report.step(True, f"The search path is {name!r} alone (search_path {report.search_path!r})")

    with connection.cursor() as cursor:
        report.tables = _tables_in(cursor, name)
        public_tables = set(_tables_in(cursor, "public"))
    report.step(True, f"{len(report.tables)} tables in schema {name!r}")

    expected = expected_tables(connection)
    report.missing_tables = sorted(expected - set(report.tables))
    report.step(
        not report.missing_tables,
        "Every table the models need is present"
        if not report.missing_tables
        else f"Missing tables: {', '.join(report.missing_tables)}",
    )
    report.unowned_tables = sorted(set(report.tables) - expected)
    if report.unowned_tables:
        unowned = ", ".join(report.unowned_tables)
        report.notes.append(f"Tables in {name!r} that no model owns (left alone): {unowned}")

    if "django_migrations" in report.tables:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        report.unapplied_migrations = [f"{m.app_label}.{m.name}" for m, _ in plan]
    report.step(
        not report.unapplied_migrations,
        "All migrations applied"
        if not report.unapplied_migrations
        else f"Unapplied migrations: {', '.join(report.unapplied_migrations)}",
    )

    owned = own_tables()
    report.leaked_tables = sorted(owned & public_tables)
    report.step(
        not report.leaked_tables,
        "Public schema safety check passed: no Euterpe table in 'public'"
        if not report.leaked_tables
        else f"Euterpe tables found in 'public': {', '.join(report.leaked_tables)}",
    )
    shared_names = sorted((expected - owned) & public_tables)
    if shared_names:
        report.notes.append(
            "Same-named Django tables in 'public' belong to the other app: "
            + ", ".join(shared_names)
        )

    if get_user_model()._meta.db_table in report.tables:
        report.users_count = get_user_model().objects.count()

    _sizes(connection, report)


def _sizes(connection, report):
    """The schema's, the whole database's and the history's sizes; a warning at 80 %
    of HISTORY_STORAGE_BUDGET_MB (the shared database's plan caps both apps together)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0),
                   coalesce(sum(pg_total_relation_size(c.oid))
                            FILTER (WHERE c.relname LIKE %s), 0),
                   pg_database_size(current_database())
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'm')
            """,
            [HISTORY_TABLE_PREFIX.replace("_", "\\_") + "%", report.schema],
        )
        schema_bytes, history_bytes, database_bytes = map(int, cursor.fetchone())
    report.schema_size_bytes = schema_bytes
    report.history_size_bytes = history_bytes
    report.database_size_bytes = database_bytes
    report.history_budget_bytes = settings.HISTORY_STORAGE_BUDGET_MB * MB
    report.step(
        True,
        f"Schema {report.schema!r} takes {_mb(schema_bytes)}, the whole database "
        f"{_mb(database_bytes)}; listening history {_mb(history_bytes)} of its "
        f"{settings.HISTORY_STORAGE_BUDGET_MB} MB budget",
    )
    if history_bytes >= HISTORY_BUDGET_WARNING * report.history_budget_bytes:
        report.warnings.append(
            f"Listening history takes {_mb(history_bytes)}, "
            f"{history_bytes / report.history_budget_bytes:.0%} of HISTORY_STORAGE_BUDGET_MB "
            f"({settings.HISTORY_STORAGE_BUDGET_MB} MB); imports stop at 100 %"
        )


def _mb(size):
    return f"{size / MB:.1f} MB"
