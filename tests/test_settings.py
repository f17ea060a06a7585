"""Settings read from the environment and validated, and the security headers they produce.

The settings module runs in this process (tests.support.settings_module); two
tests start real entry points to prove a bad environment is one line and a
non-zero exit there.
"""

import pytest
from django.contrib.auth.models import User

from devtools.processes import manage, run_python
from tests.support import (
    ENCRYPTION_KEY,
    OTHER_ENCRYPTION_KEY,
    production_env,
    settings_error,
    settings_module,
)

# The entry points ------------------------------------------------------------------


def test_manage_py_stops_with_one_line_and_exit_1_without_a_secret_key():
    result = manage("check", env=production_env(SECRET_KEY=None))

    assert result.returncode == 1
    assert result.stderr == "SECRET_KEY environment variable must be set\n"


def test_wsgi_stops_with_one_line_and_a_non_zero_exit_on_a_malformed_value():
    result = run_python("import euterpe_site.wsgi", production_env(WEB_THREADS="many"))

    assert result.returncode != 0
    assert result.stderr == "WEB_THREADS must be an integer >= 1, got 'many'\n"


# What the settings make of the environment ------------------------------------------


def test_without_secret_key_start_up_stops_with_one_line():
    assert settings_error(SECRET_KEY=None) == "SECRET_KEY environment variable must be set"


def test_without_encryption_key_start_up_stops_with_one_line():
    assert settings_error(ENCRYPTION_KEY=None) == "ENCRYPTION_KEY environment variable not set"


@pytest.mark.parametrize("key", ["not-a-key", f"{ENCRYPTION_KEY},short"])
def test_a_malformed_encryption_key_stops_start_up_saying_what_is_wrong(key):
    message = settings_error(ENCRYPTION_KEY=key)

    position = 1 if key == "not-a-key" else 2
    assert message == (
        f"ENCRYPTION_KEY key #{position} is not a valid Fernet key (expected 32 url-safe "
        "base64-encoded bytes, from Fernet.generate_key())"
    )


def test_with_debug_on_no_secrets_are_needed():
    values = settings_module(
        DEBUG="true", SECRET_KEY=None, ENCRYPTION_KEY=None, DATABASE_URL=None, ALLOWED_HOSTS=None
    )

    assert values["DEBUG"] is True
    assert values["SECRET_KEY"]
    assert values["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/postgres"
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]


def test_a_comma_separated_encryption_key_rotates_new_first():
    values = settings_module(ENCRYPTION_KEY=f"{OTHER_ENCRYPTION_KEY}, {ENCRYPTION_KEY}")

    assert values["FERNET_KEYS"] == [OTHER_ENCRYPTION_KEY, ENCRYPTION_KEY]


def test_a_remote_database_url_requires_tls():
    values = settings_module(DATABASE_URL="postgres://user:pw@db.example.com:5432/x")

    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "euterpe_site.postgresql"
    assert database["HOST"] == "db.example.com"
    assert database["NAME"] == "x"
    assert database["OPTIONS"]["sslmode"] == "require"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres@127.0.0.1:5432/x",
        "postgres://postgres@localhost/x",
        "postgres://postgres@%2Fwork%2Fvar%2Fpgserver/x",
    ],
    ids=["loopback", "localhost", "unix socket"],
)
def test_a_local_database_url_does_not_require_tls(url):
    database = settings_module(DATABASE_URL=url)["DATABASES"]["default"]

    assert "sslmode" not in database["OPTIONS"]


def test_every_connection_pins_its_schema_and_names_itself():
    values = settings_module(DATABASE_SCHEMA="euterpe_staging")

    options = values["DATABASES"]["default"]["OPTIONS"]
    assert options["options"] == "-c search_path=euterpe_staging"
    assert options["application_name"] == "euterpe"


def test_the_pool_fails_fast_when_it_runs_dry():
    database = settings_module()["DATABASES"]["default"]

    # psycopg's default is 30 s, as long as Heroku's router waits for the whole response.
    assert database["OPTIONS"]["pool"]["timeout"] <= 10
    assert database["CONN_MAX_AGE"] == 0


def test_secret_key_fallbacks_are_a_comma_separated_list():
    values = settings_module(SECRET_KEY_FALLBACKS="old-key-1, old-key-2")

    assert values["SECRET_KEY_FALLBACKS"] == ["old-key-1", "old-key-2"]


@pytest.mark.parametrize(
    "schema",
    [
        "public",
        "PUBLIC",
        "euterpe; drop",
        "Euterpe",
        "pg_temp",
        "pg_catalog",
        "pg_toast",
        "information_schema",
    ],
)
def test_database_schema_must_be_a_lower_case_name_other_than_a_system_schema(schema):
    message = settings_error(DATABASE_SCHEMA=schema)

    assert message.startswith("DATABASE_SCHEMA must be a lower-case name")
    assert "\n" not in message


def test_without_allowed_hosts_start_up_stops_with_one_line():
    assert settings_error(ALLOWED_HOSTS=None) == (
        "ALLOWED_HOSTS environment variable must be set (comma list of host names)"
    )


@pytest.mark.parametrize("name", ["SPOTIFY_AUTH_BASE_URL", "SPOTIFY_API_BASE_URL"])
@pytest.mark.parametrize("value", ["accounts.spotify.com", "ftp://x", "https://"])
def test_a_spotify_base_url_must_be_an_http_url(name, value):
    message = settings_error(**{name: value})

    assert message.startswith(f"{name} must be an http(s) URL")
    assert "\n" not in message


SPOTIFY_URLS = ["SPOTIFY_AUTH_BASE_URL", "SPOTIFY_API_BASE_URL", "SPOTIFY_REDIRECT_URI"]


@pytest.mark.parametrize("name", SPOTIFY_URLS)
@pytest.mark.parametrize(
    "value",
    [
        "http://accounts.spotify.com",
        "http://euterpe.example.com/callback",
        "http://10.0.0.5:8001",
        "http://127.0.0.1.nip.io:8001",
        "http://localhost.example.com",
        "http://127.0.0.1@evil.example/callback",
    ],
)
def test_with_debug_off_spotify_urls_must_be_https(name, value):
    assert settings_error(**{name: value}) == (
        f"{name} must be an https:// URL with DEBUG off (plain http only on a loopback "
        f"address: 127.0.0.1, localhost, [::1]), got {value!r}"
    )


@pytest.mark.parametrize("name", SPOTIFY_URLS)
@pytest.mark.parametrize(
    "value",
    [
        "https://euterpe.example.com/x",
        "http://127.0.0.1:8001/x",
        "http://localhost:8001/x",
        "http://[::1]:8001/x",
    ],
)
def test_with_debug_off_https_and_loopback_spotify_urls_are_accepted(name, value):
    assert settings_module(**{name: value})[name] == value


def test_with_debug_on_spotify_urls_may_be_plain_http():
    urls = {name: "http://192.168.1.20:8001/x" for name in SPOTIFY_URLS}

    values = settings_module(DEBUG="true", **urls)

    assert {name: values[name] for name in SPOTIFY_URLS} == urls


@pytest.mark.parametrize("token", ["short", "x" * 31])
def test_an_ops_token_shorter_than_32_characters_stops_start_up(token):
    message = settings_error(OPS_TOKEN=token)

    assert message == (
        f"OPS_TOKEN must be at least 32 characters (it has {len(token)}); make one with "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )
    assert token not in message


@pytest.mark.parametrize("token", [None, "", "x" * 32])
def test_an_ops_token_of_32_characters_or_none_is_accepted(token):
    assert settings_module(OPS_TOKEN=token)["OPS_TOKEN"] == (token or "")


def test_with_debug_on_euterpe_serves_plain_http():
    values = settings_module(DEBUG="true")

    for name in (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    ):
        assert name not in values


def test_with_debug_off_euterpe_trusts_herokus_router_and_insists_on_https():
    values = settings_module()

    assert {
        name: values[name]
        for name in (
            "SECURE_PROXY_SSL_HEADER",
            "SECURE_SSL_REDIRECT",
            "SECURE_HSTS_SECONDS",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS",
            "SECURE_HSTS_PRELOAD",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
        )
    } == {
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 60 * 60,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
    }


def test_a_fake_spotify_is_allowed_to_serve_images_and_receive_the_login_form():
    values = settings_module(
        SPOTIFY_AUTH_BASE_URL="http://127.0.0.1:8001/accounts",
        SPOTIFY_API_BASE_URL="http://127.0.0.1:8001/v1",
    )

    csp = values["SECURE_CSP"]
    assert "http://127.0.0.1:8001" in csp["img-src"]
    assert csp["form-action"] == ["'self'", "http://127.0.0.1:8001"]


def _directives(header):
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


@pytest.mark.smoke
def test_responses_carry_a_content_security_policy_without_inline_script(client, db):
    response = client.get("/health")

    csp = _directives(response["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]
    assert {"https://*.scdn.co", "https://*.spotifycdn.com"} <= set(csp["img-src"])
    assert "https://accounts.spotify.com" in csp["form-action"]
    assert csp["frame-ancestors"] == ["'none'"]


def test_responses_refuse_framing_and_limit_the_referrer(client, db):
    response = client.get("/health")

    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_plain_http_is_redirected_to_https(db):
    from django.test import Client

    response = Client().get("/login")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login"


def test_cookies_are_http_only_lax_and_secure(client, db):
    User.objects.create_superuser("ops", "ops@example.com", "a-long-password-1")

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ops", "password": "a-long-password-1"},
    )

    assert response.status_code == 302
    for name in ("sessionid", "csrftoken"):
        cookie = response.cookies[name]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["secure"] is True
