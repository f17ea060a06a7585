"""The schema guard when a pooler drops Euterpe's `-c search_path` startup option.

Then the role's or the database's own search_path decides, and `current_schema()`
alone can look right while `public` is still searched: every name Euterpe has not
created yet (django_migrations, django_session) would resolve to the neighbour's
table. The guard wants the effective path to be DATABASE_SCHEMA alone.

Each case runs Euterpe in a fresh process through tests.startup_proxy, as a role
that may write the neighbour's tables (Essential plans share one role), against a
neighbour whose django_migrations holds one row Euterpe also has; each ends with
the neighbour's `public` unchanged and a clear refusal.
"""

import pytest
from django.db import connection

from devtools.neighbour import fingerprint
from devtools.processes import manage, run_python
from tests.startup_proxy import StartupProxy
from tests.support import production_env, server_connection

REFUSAL = "Refusing to run: the database connection searches "


@pytest.fixture
def neighbour(empty_database, login_role):
    """The neighbour's database, its `public` writable by Euterpe's role, and its
    django_migrations down to the one row that overlaps Euterpe's."""
    role, _ = login_role
    with server_connection(empty_database) as conn:
        conn.execute("DELETE FROM public.django_migrations WHERE app <> 'sessions'")
        conn.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        rows = conn.execute("SELECT app, name FROM public.django_migrations").fetchall()
    assert rows == [("sessions", "0001_initial")]
    return empty_database


@pytest.fixture
def pooler():
    """A proxy that drops the `options` startup parameter."""
    params = connection.settings_dict
    with StartupProxy(params["HOST"], params["PORT"]) as proxy:
        yield proxy


def _public(dbname):
    with server_connection(dbname) as conn:
        return fingerprint(conn.cursor())


def _through(proxy, dbname, login_role, **overrides):
    role, password = login_role
    url = f"postgres://{role}:{password}@127.0.0.1:{proxy.port}/{dbname}"
    return production_env(DATABASE_URL=url, **overrides)


def _create_schema(dbname, name, owner):
    with server_connection(dbname) as conn:
        conn.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{owner}"')


def _assert_refused(result, schema):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # The wording of this refusal predates the check of the whole path.
    assert lines[0].startswith("CommandError: Refusing to run: ")
    assert f"'{schema}'" in lines[0]


@pytest.mark.parametrize("schema_exists", [True, False], ids=["schema-exists", "no-schema"])
def test_a_role_named_like_the_schema_with_the_default_path_is_refused(
    neighbour, login_role, pooler, schema_exists
):
    role, _ = login_role
    if schema_exists:
        _create_schema(neighbour, role, role)
    before = _public(neighbour)

    result = manage(
        "migrate", "--noinput", env=_through(pooler, neighbour, login_role, DATABASE_SCHEMA=role)
    )

    assert pooler.startups[0]["options"] == f"-c search_path={role}"
    _assert_refused(result, role)
    assert _public(neighbour) == before


@pytest.mark.parametrize("schema_exists", [True, False], ids=["schema-exists", "no-schema"])
def test_a_role_whose_own_path_adds_public_is_refused(neighbour, login_role, pooler, schema_exists):
    role, _ = login_role
    if schema_exists:
        _create_schema(neighbour, "euterpe", role)
    with server_connection(neighbour) as conn:
        conn.execute(f'ALTER ROLE "{role}" SET search_path = euterpe, public')
    before = _public(neighbour)

    result = manage("migrate", "--noinput", env=_through(pooler, neighbour, login_role))

    _assert_refused(result, "euterpe")
    assert _public(neighbour) == before


def test_a_database_whose_path_is_public_is_refused(neighbour, login_role, pooler):
    with server_connection(neighbour) as conn:
        conn.execute(f'ALTER DATABASE "{neighbour}" SET search_path = public')
    before = _public(neighbour)

    result = manage("migrate", "--noinput", env=_through(pooler, neighbour, login_role))

    _assert_refused(result, "euterpe")
    assert _public(neighbour) == before


def test_dbcheck_on_a_path_that_adds_public_fails_in_one_line(neighbour, login_role, pooler):
    role, _ = login_role
    _create_schema(neighbour, "euterpe", role)
    with server_connection(neighbour) as conn:
        conn.execute(f'ALTER ROLE "{role}" SET search_path = euterpe, public')
    before = _public(neighbour)

    result = manage("dbcheck", env=_through(pooler, neighbour, login_role))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Public schema safety check passed" not in result.stdout
    assert f"[FAIL] {REFUSAL}'euterpe', 'public'" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"CommandError: Database check failed: {REFUSAL}")
    assert _public(neighbour) == before


def test_a_worker_refuses_to_boot_on_a_path_that_adds_public(neighbour, login_role, pooler):
    role, _ = login_role
    _create_schema(neighbour, "euterpe", role)
    with server_connection(neighbour) as conn:
        conn.execute(f'ALTER ROLE "{role}" SET search_path = euterpe, public')

    result = run_python("import euterpe_site.wsgi", _through(pooler, neighbour, login_role))

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(REFUSAL)


def test_a_dedicated_role_with_its_path_pinned_migrates_through_the_pooler(
    neighbour, login_role, pooler
):
    """The README's recipe: ALTER ROLE ... SET search_path = euterpe holds without the option."""
    role, _ = login_role
    with server_connection(neighbour) as conn:
        conn.execute(f'ALTER ROLE "{role}" SET search_path = euterpe')
        conn.execute(f'GRANT CREATE ON DATABASE "{neighbour}" TO "{role}"')
    before = _public(neighbour)

    migrate = manage("migrate", "--noinput", env=_through(pooler, neighbour, login_role))
    check = manage("dbcheck", env=_through(pooler, neighbour, login_role))

    assert migrate.returncode == 0, migrate.stderr
    assert "Created schema euterpe" in migrate.stdout
    assert check.returncode == 0, check.stderr + check.stdout
    assert _public(neighbour) == before


def test_dbcheck_through_a_pooler_that_refuses_the_option_fails_in_one_line(neighbour, login_role):
    params = connection.settings_dict
    with StartupProxy(params["HOST"], params["PORT"], refuse=True) as refusing:
        result = manage("dbcheck", env=_through(refusing, neighbour, login_role))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "unsupported startup parameter: options" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: Database check failed: ")
    assert "unsupported startup parameter: options" in lines[0]
