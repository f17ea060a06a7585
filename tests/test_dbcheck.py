"""`manage.py dbcheck`: healthy, and each way the database can be wrong.

The healthy cases run in-process against the test database; the broken ones run
the command in a fresh process against a private copy of a migrated database,
so the shared test database (and its neighbour) is never damaged.
"""

import json

import pytest
from django.apps import apps
from django.core.management import call_command

from devtools.processes import manage
from tests.support import production_env, server_connection


def _dbcheck(dbname, *args):
    return manage("dbcheck", *args, env=production_env(dbname))


def _break(dbname, *statements):
    with server_connection(dbname) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.smoke
def test_a_migrated_database_is_healthy(db, capsys):
    call_command("dbcheck")

    out = capsys.readouterr().out
    assert "Euterpe database check (schema 'euterpe')" in out
    assert "[ok  ] The search path is 'euterpe' alone (search_path 'euterpe')" in out
    assert "[ok  ] Every table the models need is present" in out
    assert "[ok  ] All migrations applied" in out
    assert "[ok  ] Public schema safety check passed: no Euterpe table in 'public'" in out
    assert "      - euterpe_cache" in out
    assert "FAIL" not in out
    assert out.rstrip().endswith("Database is healthy.")


def test_the_neighbours_same_named_django_tables_in_public_are_a_note(db, capsys):
    call_command("dbcheck")

    out = capsys.readouterr().out
    assert (
        "note: Same-named Django tables in 'public' belong to the other app: "
        "django_migrations, django_session"
    ) in out


def test_json_is_the_same_object_as_the_db_check_endpoint(client, db, capsys):
    call_command("dbcheck", "--json")
    from_command = json.loads(capsys.readouterr().out)

    from_endpoint = client.get(
        "/db_check", headers={"Authorization": "Bearer test-ops-token-0123456789-abcdefghij"}
    )

    assert from_command == from_endpoint.json()
    assert from_command["status"] == "ok"
    assert from_command["schema"] == "euterpe"
    assert from_command["public_safety_check"] == "passed"
    assert "auth_user" in from_command["tables"]
    assert from_command["users_count"] == 0


def test_a_healthy_copy_exits_zero(migrated_database):
    result = _dbcheck(migrated_database)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "Database is healthy." in result.stdout


def test_a_missing_table_is_a_failure(migrated_database):
    _break(migrated_database, "DROP TABLE euterpe.euterpe_cache")

    result = _dbcheck(migrated_database)

    assert result.returncode != 0
    assert "[FAIL] Missing tables: euterpe_cache" in result.stdout
    assert "Missing tables: euterpe_cache" in result.stderr


def test_a_euterpe_table_in_public_is_a_failure(migrated_database):
    accounts_table = next(iter(apps.get_app_config("accounts").get_models()))._meta.db_table
    _break(
        migrated_database,
        f"CREATE TABLE public.{accounts_table} (id bigint PRIMARY KEY)",
        "CREATE TABLE public.euterpe_cache (cache_key varchar(255) PRIMARY KEY)",
        "CREATE TABLE public.social_auth_usersocialauth (id bigint PRIMARY KEY)",
    )

    result = _dbcheck(migrated_database, "--json")

    assert result.returncode != 0
    report = json.loads(result.stdout)
    assert report["status"] == "error"
    assert report["public_safety_check"] == "failed"
    assert report["problems"] == [
        f"Euterpe tables found in 'public': {accounts_table}, euterpe_cache, "
        "social_auth_usersocialauth"
    ]


def test_tables_no_model_owns_are_a_note_and_still_healthy(migrated_database):
    # What the old Flask deployment left in the schema.
    _break(
        migrated_database,
        "CREATE TABLE euterpe.users (id serial PRIMARY KEY, spotify_id text)",
        "CREATE TABLE euterpe.user_tokens (user_id integer, access_token text)",
    )

    result = _dbcheck(migrated_database)

    assert result.returncode == 0, result.stderr
    assert "note: Tables in 'euterpe' that no model owns (left alone): user_tokens, users" in (
        result.stdout
    )
    assert "Database is healthy." in result.stdout


def test_an_unapplied_migration_is_a_failure(migrated_database):
    _break(
        migrated_database,
        "DELETE FROM euterpe.django_migrations "
        "WHERE app = 'euterpe_site' AND name = '0001_cache_table'",
    )

    result = _dbcheck(migrated_database)

    assert result.returncode != 0
    assert "[FAIL] Unapplied migrations: euterpe_site.0001_cache_table" in result.stdout


def test_a_database_never_migrated_is_a_failure(empty_database):
    result = _dbcheck(empty_database)

    assert result.returncode != 0
    assert "[FAIL] Schema 'euterpe' does not exist: run `manage.py migrate`" in result.stdout
    assert "Traceback" not in result.stderr
