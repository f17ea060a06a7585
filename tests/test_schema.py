"""The schema hook (migrate creates and uses `euterpe`) and the fail-closed guard."""

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections

from devtools.neighbour import NEIGHBOUR_TABLES, fingerprint
from devtools.processes import manage, run_python
from euterpe_site import schema
from tests.support import database_url, production_env, server_connection


def _tables(dbname, schema_name):
    with server_connection(dbname) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema_name]
        ).fetchall()
    return {name for (name,) in rows}


def _neighbour_fingerprint(dbname):
    with server_connection(dbname) as conn:
        return fingerprint(conn.cursor())


def _as_role(dbname, role, password):
    return production_env(DATABASE_URL=database_url(dbname, user=role, password=password))


# The schema hook ---------------------------------------------------------------


def test_migrate_creates_the_schema_in_a_fresh_database(migrated_template):
    name, migrate = migrated_template
    assert "Created schema euterpe" in migrate.stdout
    with server_connection(name) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'euterpe'"
        ).fetchone()
    assert owner is not None


def test_every_euterpe_table_lands_in_euterpe_and_none_in_public(migrated_template):
    name, _ = migrated_template
    euterpe_tables = _tables(name, "euterpe")
    assert {"django_migrations", "auth_user", "django_session", "euterpe_cache"} <= euterpe_tables
    assert {table for table in euterpe_tables if table.startswith("social_auth_")}
    assert _tables(name, "public") == set(NEIGHBOUR_TABLES)


def test_migrate_records_its_migrations_in_euterpe_not_in_the_neighbours_table(
    migrated_template,
):
    name, _ = migrated_template
    with server_connection(name) as conn:
        ours = conn.execute("SELECT app, name FROM euterpe.django_migrations").fetchall()
        theirs = conn.execute("SELECT app, name FROM public.django_migrations").fetchall()
    assert ("euterpe_site", "0001_cache_table") in ours
    assert ("auth", "0001_initial") in ours
    assert sorted(theirs) == [("sessions", "0001_initial"), ("shelf", "0001_initial")]


def test_migrate_uses_an_existing_schema_without_creating_it(empty_database):
    with server_connection(empty_database) as conn:
        conn.execute("CREATE SCHEMA euterpe")
    before = _neighbour_fingerprint(empty_database)

    result = manage("migrate", "--noinput", env=production_env(empty_database))

    assert result.returncode == 0, result.stderr
    assert "Created schema" not in result.stdout
    assert "euterpe_cache" in _tables(empty_database, "euterpe")
    assert _neighbour_fingerprint(empty_database) == before


@pytest.mark.parametrize("grant", ["owned by the role", "CREATE granted on it"])
def test_a_role_without_create_on_the_database_migrates_into_a_prepared_schema(
    empty_database, login_role, grant
):
    role, password = login_role
    with server_connection(empty_database) as conn:
        conn.execute(f'REVOKE CREATE ON DATABASE "{empty_database}" FROM PUBLIC')
        if grant == "owned by the role":
            conn.execute(f'CREATE SCHEMA euterpe AUTHORIZATION "{role}"')
        else:
            conn.execute("CREATE SCHEMA euterpe")
            conn.execute(f'GRANT USAGE, CREATE ON SCHEMA euterpe TO "{role}"')
        may_create = conn.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE')", [role]
        ).fetchone()[0]
    assert not may_create

    result = manage("migrate", "--noinput", env=_as_role(empty_database, role, password))

    assert result.returncode == 0, result.stderr
    assert "auth_user" in _tables(empty_database, "euterpe")
    assert _tables(empty_database, "public") == set(NEIGHBOUR_TABLES)


def test_a_role_without_create_on_the_database_and_no_schema_gets_a_clear_error(
    empty_database, login_role
):
    role, password = login_role
    with server_connection(empty_database) as conn:
        conn.execute(f'REVOKE CREATE ON DATABASE "{empty_database}" FROM PUBLIC')

    result = manage("migrate", "--noinput", env=_as_role(empty_database, role, password))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"CommandError: Schema 'euterpe' does not exist and role '{role}' may not create "
        f"schemas in database '{empty_database}'. Ask the database owner to run: "
        f'CREATE SCHEMA "euterpe" AUTHORIZATION "{role}";'
    ]
    assert _tables(empty_database, "public") == set(NEIGHBOUR_TABLES)


def test_migrate_refuses_a_schema_the_role_may_not_use_and_writes_nothing(
    empty_database, login_role
):
    role, password = login_role
    with server_connection(empty_database) as conn:
        # The schema exists but the role has no USAGE on it: current_schema() is NULL.
        conn.execute("CREATE SCHEMA euterpe")
    before = _neighbour_fingerprint(empty_database)

    result = manage("migrate", "--noinput", env=_as_role(empty_database, role, password))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Refusing to run: schema 'euterpe' does not exist or this role may not use it" in (
        result.stderr
    )
    assert _neighbour_fingerprint(empty_database) == before


# The fail-closed guard --------------------------------------------------------------


def test_the_guard_accepts_a_connection_in_euterpe(db):
    assert schema.verify_schema(connection) == "euterpe"


def test_the_guard_refuses_a_connection_whose_search_path_is_public(db):
    with connection.cursor() as cursor:
        # SET LOCAL ends with the test's transaction, which is rolled back.
        cursor.execute("SET LOCAL search_path TO public")

    with pytest.raises(schema.SchemaMismatch) as refused:
        schema.verify_schema(connection)

    assert str(refused.value) == (
        "Refusing to run: the database connection searches 'public' "
        "(search_path 'public'), not 'euterpe' alone. Connect directly, not through "
        "a pooler that drops the startup option, or pin the role's path: "
        "ALTER ROLE ... SET search_path = euterpe."
    )


def test_the_guard_refuses_a_connection_that_searches_public_after_euterpe(db):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path TO euterpe, public")

    with pytest.raises(schema.SchemaMismatch, match="searches 'euterpe', 'public' "):
        schema.verify_schema(connection)


def test_a_search_path_in_the_database_url_cannot_move_euterpe_out_of_its_schema(
    empty_database,
):
    url = database_url(empty_database) + "?options=-c%20search_path%3Dpublic"
    result = run_python(
        "import django; django.setup(); from django.db import connection; "
        "from euterpe_site import schema; print(schema.verify_schema(connection))",
        production_env(DATABASE_URL=url),
    )
    # The database has no euterpe schema yet; a connection that took the URL's
    # search_path would be in public and say so.
    assert result.returncode != 0
    assert "schema 'euterpe' does not exist" in result.stderr


def test_wsgi_refuses_to_boot_when_the_schema_does_not_exist(db):
    env = production_env(connection.settings_dict["NAME"], DATABASE_SCHEMA="nowhere")

    result = run_python("import euterpe_site.wsgi", env)

    # 3 is gunicorn's "worker failed to boot": the master halts instead of
    # starting new workers forever.
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Refusing to run: schema 'nowhere' does not exist or this role may not use it "
        "(search_path 'nowhere'). Run `manage.py migrate` to create it."
    )


def test_wsgi_boots_when_the_schema_is_right(db):
    env = production_env(connection.settings_dict["NAME"])

    result = run_python(
        "import euterpe_site.wsgi; from euterpe_site import schema; "
        "print('default' in schema._checked_aliases)",
        env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.smoke
def test_connections_name_themselves_and_search_only_euterpe(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, current_setting('search_path') "
            "FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        assert cursor.fetchone() == ("euterpe", "euterpe")


def _wrapper_with_search_path(search_path, alias):
    """A connection like the default one, but whose startup option asks for ``search_path``
    (what a pooler dropping Euterpe's option amounts to), without the pool."""
    from euterpe_site.postgresql.base import DatabaseWrapper

    params = {**connection.settings_dict}
    params["OPTIONS"] = {
        **{k: v for k, v in params["OPTIONS"].items() if k != "pool"},
        "options": f"-c search_path={search_path}",
    }
    return DatabaseWrapper(params, alias=alias)


def test_every_connection_in_another_schema_is_refused_whatever_the_process_runs(db):
    wrong = _wrapper_with_search_path("public", alias="pooler_dropped_the_option")
    try:
        with pytest.raises(schema.SchemaMismatch, match="searches 'public' "):
            wrong.ensure_connection()
    finally:
        wrong.close()


def test_a_connection_to_a_missing_schema_is_let_through_for_migrate_to_create_it(db, settings):
    settings.DATABASE_SCHEMA = "not_created_yet"
    missing = _wrapper_with_search_path("not_created_yet", alias="before_migrate")
    try:
        missing.ensure_connection()
        with missing.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            assert cursor.fetchone() == (None,)
    finally:
        missing.close()


def test_a_connection_whose_path_names_another_missing_schema_is_refused(db):
    missing = _wrapper_with_search_path("not_created_yet", alias="elsewhere")
    try:
        with pytest.raises(schema.SchemaMismatch, match="searches no schema "):
            missing.ensure_connection()
    finally:
        missing.close()


def test_a_request_whose_connection_searches_another_schema_writes_nothing(client, db, monkeypatch):
    """The guard on the web: a worker that booted while the database was down, which
    then comes back behind a pooler that drops the startup option (the path is
    `public`, where the neighbour has a django_session), writes no session there."""
    User.objects.create_superuser("ops", "ops@example.com", "a-long-password-1")
    monkeypatch.setattr(schema, "_checked_aliases", set())
    test_connection = connections["default"]
    wrong = _wrapper_with_search_path("public", alias="default")
    connections._connections.default = wrong
    try:
        with pytest.raises(schema.SchemaMismatch, match="searches 'public' "):
            client.post(
                "/admin/login/?next=/admin/",
                {"username": "ops", "password": "a-long-password-1"},
            )
    finally:
        wrong.close()
        connections._connections.default = test_connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM public.django_session")
        assert cursor.fetchone() == (1,)  # the neighbour's own
    assert User.objects.get(username="ops").last_login is None


def test_the_guard_queries_once_per_process_and_alias(db, monkeypatch):
    monkeypatch.setattr(schema, "_checked_aliases", set())
    checked = []
    check = schema.check_search_path

    def counting(cursor, **kwargs):
        checked.append(kwargs)
        return check(cursor, **kwargs)

    monkeypatch.setattr(schema, "check_search_path", counting)
    for _ in range(2):
        fresh = _wrapper_with_search_path("euterpe", alias="checked_once")
        try:
            fresh.ensure_connection()
        finally:
            fresh.close()

    assert checked == [{"missing_ok": True}]
    assert "checked_once" in schema._checked_aliases


def test_a_management_command_refuses_to_run_in_the_wrong_schema(db):
    """purge_expired deletes sessions: in `public` they would be the neighbour's."""
    url = database_url(connection.settings_dict["NAME"])
    result = run_python(
        "import django; from django.conf import settings; "
        "django.setup(); "
        "settings.DATABASES['default']['OPTIONS']['options'] = '-c search_path=public'; "
        "from django.core.management import call_command; call_command('purge_expired')",
        production_env(DATABASE_URL=url),
    )

    assert result.returncode != 0
    assert "Refusing to run: the database connection searches 'public' " in (result.stderr)
