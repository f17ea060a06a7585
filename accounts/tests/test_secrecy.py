"""No Spotify token, ever, in the database, the sessions, the logs, the pages or the admin."""

import base64
import binascii
import json
import logging
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.utils import timezone
from social_django.models import UserSocialAuth

from accounts.models import SpotifyToken
from accounts.tests.helpers import approve, browser, log_in, start_login
from accounts.tokens import fresh_access_token

User = get_user_model()


def raw_database_text():
    """Every row of every table in every schema, as PostgreSQL prints it, plus the
    decoded contents of sessions and cache entries (stored compressed/pickled)."""
    texts = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname, tablename FROM pg_catalog.pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = cursor.fetchall()
        assert len(tables) > 10
        for schema, table in tables:
            quoted = f"{connection.ops.quote_name(schema)}.{connection.ops.quote_name(table)}"
            cursor.execute(f"SELECT t::text FROM {quoted} t")
            texts.extend(row[0] for row in cursor.fetchall())
            if table == "django_session":
                cursor.execute(f"SELECT session_data FROM {quoted}")
                for (data,) in cursor.fetchall():
                    texts.append(json.dumps(SessionStore().decode(data)))
            if table == "euterpe_cache":
                cursor.execute(f"SELECT value FROM {quoted}")
                for (value,) in cursor.fetchall():
                    try:
                        texts.append(base64.b64decode(value).decode("latin-1"))
                    except binascii.Error:
                        texts.append(value)
    return "\n".join(texts)


def pg_dump_text():
    """``pg_dump`` of the test database, when a pg_dump that can read this server exists."""
    executable = shutil.which("pg_dump")
    if executable is None:
        return ""
    params = connection.settings_dict
    command = [executable, "--data-only", "--dbname", params["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if params[key]:
            command += [flag, str(params[key])]
    env = {"PGPASSWORD": params["PASSWORD"] or ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    return result.stdout if result.returncode == 0 else ""


def leaked(tokens, text):
    """The tokens found in ``text``, as they are or hex-encoded (bytea)."""
    return [token for token in tokens if token in text or token.encode().hex() in text]


@pytest.mark.django_db(transaction=True)
def test_no_issued_token_is_anywhere_in_the_database_logs_or_pages(fake_spotify, caplog):
    fake_spotify.set_rotation(True)
    pages = []
    with caplog.at_level(logging.DEBUG):
        for listener in ("alice", "bob", "unicode", "legacy", "nameless"):
            client = browser()
            pages.append(log_in(client, listener))
            pages.append(client.get("/"))
            pages.append(client.get("/health"))
        pages.append(log_in(browser(), "stranger"))  # tokens issued, then refused
        declined = browser()
        pages.append(declined.get(approve(start_login(declined), "carol", decline=True)))
        # Refreshes issue more tokens (rotation on: new refresh tokens too).
        for listener in ("alice", "bob"):
            user = User.objects.get(username=listener)
            SpotifyToken.objects.filter(user=user).update(expires_at=timezone.now())
            fresh_access_token(user)

    issued = fake_spotify.issued_tokens()
    assert len(issued) >= 14
    assert SpotifyToken.objects.count() == 5
    assert not UserSocialAuth.objects.exclude(extra_data={}).exists()
    assert leaked(issued, raw_database_text()) == []
    assert leaked(issued, pg_dump_text()) == []
    assert leaked(issued, caplog.text) == []
    assert leaked(issued, "\n".join(page.content.decode() for page in pages)) == []
    assert leaked(issued, "\n".join(str(page.cookies) for page in pages)) == []


@pytest.mark.django_db
def test_tokens_are_stored_as_fernet_ciphertext(fake_spotify):
    log_in(browser(), "alice")
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounts_spotifytoken")
        access, refresh = cursor.fetchone()
    for value in (bytes(access), bytes(refresh)):
        assert value.startswith(b"gAAAAA")  # Fernet's version byte, base64
        assert b"fake" not in value


@pytest.mark.django_db
def test_the_session_holds_no_token(client, fake_spotify):
    start_login(client)
    log_in(client, "alice")
    session = client.session
    values = json.dumps(dict(session.items()))
    assert leaked(fake_spotify.issued_tokens(), values) == []
    keys = set(session.keys())
    assert keys <= {
        "_auth_user_id",
        "_auth_user_backend",
        "_auth_user_hash",
        "social_auth_last_login_backend",
        "next",
        "spotify_oauth2_transaction_index",
    } | {key for key in keys if key.startswith("spotify_oauth2_state_")}


@pytest.mark.django_db
def test_the_admin_shows_token_status_but_never_a_token(client, fake_spotify):
    log_in(browser(), "alice")
    log_in(browser(), "stranger")
    user = User.objects.get(username="alice")
    SpotifyToken.objects.filter(user=user).update(expires_at=timezone.now() + timedelta(seconds=5))
    fresh_access_token(user)
    admin = User.objects.create_superuser("operator", password="correct horse battery")
    client.force_login(admin)
    social = UserSocialAuth.objects.get(user=user)
    pages = {
        "listeners": client.get("/admin/auth/user/"),
        "listener": client.get(f"/admin/auth/user/{user.pk}/change/"),
        "social": client.get(f"/admin/social_django/usersocialauth/{social.pk}/change/"),
        "refused": client.get("/admin/accounts/refusedlogin/"),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        assert leaked(fake_spotify.issued_tokens(), page.content.decode()) == [], name
    listener_page = pages["listener"].content.decode()
    assert "Token expires at" in listener_page
    assert "Token last refreshed" in listener_page
    assert "access_token" not in listener_page
    assert "extra_data" not in pages["social"].content.decode()
    assert "Not on the Development Mode allow-list" in pages["refused"].content.decode()
    assert "Alice Liddell" in pages["listeners"].content.decode()
