"""Small helpers for tests that run Euterpe under a production environment or in a
throwaway database (devtools.processes starts the fresh processes).

The environment is built from scratch (nothing inherited from the test run) and
looks like production: DEBUG off and every required variable set.
"""

import os
import pickle
import runpy
from unittest import mock
from urllib.parse import quote

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from devtools.processes import BASE_DIR

# Fixed values, for tests only.
SECRET_KEY = "fresh-process-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"
ENCRYPTION_KEY = "ZXV0ZXJwZS10ZXN0LWtleS0zMi1ieXRlcy1sb25nISE="
OTHER_ENCRYPTION_KEY = "b3RoZXItZXV0ZXJwZS10ZXN0LWtleS0zMi1ieXRlcyE="


def database_url(dbname, *, user=None, password=None):
    """A DATABASE_URL for `dbname` on the server the tests use (TCP or unix socket)."""
    params = connection.settings_dict
    if user is None:
        user, password = params["USER"] or "postgres", params["PASSWORD"]
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    host = quote(params["HOST"] or "127.0.0.1", safe="")
    port = f":{params['PORT']}" if params["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{dbname}"


def server_connection(dbname="postgres"):
    """An autocommit psycopg connection as the tests' superuser, outside Django."""
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


def production_env(dbname=None, **overrides):
    """The environment of a production process; an override of None unsets a variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(BASE_DIR)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "euterpe_site.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "ALLOWED_HOSTS": "euterpe.example.com",
        "DATABASE_URL": database_url(dbname or "postgres"),
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def settings_module(**overrides):
    """euterpe_site/settings.py run in this process under ``production_env(**overrides)``
    (and nothing else of the environment): its namespace, a dict. Raises what the
    module raises. Cheaper than a fresh process; SENTRY_DSN would start Sentry here,
    so tests of that take a fresh process.
    """
    with mock.patch.dict(os.environ, production_env(**overrides), clear=True):
        return runpy.run_path(str(BASE_DIR / "euterpe_site" / "settings.py"))


def settings_error(**overrides):
    """The message of the ImproperlyConfigured the settings raise under these overrides."""
    with pytest.raises(ImproperlyConfigured) as refused:
        settings_module(**overrides)
    return str(refused.value)


# What a hostile pickle's code appends to, when it runs.
RAN = []


class Hostile:
    """Unpickling this runs code: what whoever can write the cache would store."""

    def __reduce__(self):
        return (exec, ("import tests.support as t; t.RAN.append('code ran')",))


HOSTILE_PICKLE = pickle.dumps(Hostile())
