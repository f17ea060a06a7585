"""Loaded by pytest (`-p tests.environment`) before Django reads its settings.

Tests run Euterpe's one settings module with production defaults (DEBUG off),
configured the way an operator would: through environment variables.
Anything already set (DATABASE_URL from `make test`, CI) wins.
"""

import os

TEST_ENVIRONMENT = {
    "DEBUG": "false",
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnop",
    # A fixed Fernet key for tests only.
    "ENCRYPTION_KEY": "ZXV0ZXJwZS10ZXN0LWtleS0zMi1ieXRlcy1sb25nISE=",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "OPS_TOKEN": "test-ops-token-0123456789-abcdefghij",
    "SPOTIFY_CLIENT_ID": "euterpe-demo-client",
    "SPOTIFY_CLIENT_SECRET": "euterpe-demo-secret",
    "SPOTIFY_REDIRECT_URI": "https://testserver/callback",
    "LOG_LEVEL": "INFO",
}

for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
os.environ["DJANGO_SETTINGS_MODULE"] = "euterpe_site.settings"
