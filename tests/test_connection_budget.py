"""Web dynos' pools plus release/one-off/scheduler dynos fit the connection budget."""

import importlib.util

import pytest

from devtools.processes import BASE_DIR, manage
from euterpe_site.checks import connection_budget_check
from tests.support import production_env, settings_module


def _gunicorn_config():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", BASE_DIR / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_defaults_fit_the_budget_of_fifteen():
    values = settings_module()

    assert (
        values["WEB_DYNOS"] * values["WEB_CONCURRENCY"] * values["DATABASE_POOL_MAX_SIZE"]
        + values["WORKER_DYNOS"] * values["WORKER_CONNECTIONS"]
        + values["DATABASE_RESERVED_CONNECTIONS"]
        == values["DATABASE_PEAK_CONNECTIONS"]
    )
    assert values["DATABASE_PEAK_CONNECTIONS"] == 1 * 2 * 4 + 1 * 2 + 3
    assert values["DATABASE_CONNECTION_BUDGET"] == 15
    assert values["DATABASES"]["default"]["OPTIONS"]["pool"]["max_size"] == 4


def test_each_thread_gets_at_most_one_pooled_connection():
    values = settings_module(WEB_THREADS="3")

    assert values["DATABASE_POOL_MAX_SIZE"] == 3
    assert values["DATABASES"]["default"]["OPTIONS"]["pool"]["max_size"] == 3
    assert values["DATABASE_PEAK_CONNECTIONS"] == 1 * 2 * 3 + 1 * 2 + 3


def test_a_configuration_over_budget_fails_the_system_check():
    env = production_env(WEB_DYNOS="2", WEB_CONCURRENCY="2")  # 2 x 2 x 4 + 1 x 2 + 3 = 21

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "euterpe.E001" in result.stderr
    assert "could open 21 database connections" in result.stderr


def test_the_worker_dynos_count_against_the_budget():
    # 1 x 2 x 4 + 3 x 2 + 3 = 17
    result = manage("check", env=production_env(WORKER_DYNOS="3"))

    assert result.returncode != 0
    assert "could open 17 database connections" in result.stderr
    assert "WORKER_DYNOS 3 x 2" in result.stderr


def test_a_configuration_within_a_raised_budget_passes_the_system_check():
    env = production_env(WEB_DYNOS="2", WEB_CONCURRENCY="2", DATABASE_CONNECTION_BUDGET="21")

    result = manage("check", env=env)

    assert result.returncode == 0, result.stderr


def test_the_check_reports_the_arithmetic(settings):
    settings.DATABASE_PEAK_CONNECTIONS = 16

    [error] = connection_budget_check(None)

    assert error.id == "euterpe.E001"
    assert "more than DATABASE_CONNECTION_BUDGET 15" in error.msg


@pytest.mark.parametrize(
    "env",
    [{}, {"WEB_CONCURRENCY": "3", "WEB_THREADS": "2"}],
    ids=["defaults", "from the environment"],
)
def test_gunicorn_runs_the_workers_and_threads_the_budget_counts(monkeypatch, env):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    gunicorn = _gunicorn_config()
    values = settings_module(**env)

    assert gunicorn.workers == values["WEB_CONCURRENCY"]
    assert gunicorn.threads == values["WEB_THREADS"] == values["DATABASE_POOL_MAX_SIZE"]
    assert gunicorn.worker_class == "gthread"
