"""`manage.py check --deploy` is clean with production variables."""

import secrets

from devtools.processes import manage
from tests.support import production_env


def test_the_deploy_check_passes_with_production_variables():
    env = production_env(
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="euterpe.herokuapp.com",
        DATABASE_URL="postgres://user:pw@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1",
        OPS_TOKEN=secrets.token_urlsafe(32),
    )

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_catches_a_weak_secret_key():
    env = production_env(SECRET_KEY="too-short")

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "security.W009" in result.stderr
