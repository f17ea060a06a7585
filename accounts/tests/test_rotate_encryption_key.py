"""Key rotation end to end: the command in a fresh process, then reads with each key."""

import hashlib
import io
import os

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import SpotifyToken
from accounts.tests.helpers import browser, log_in
from accounts.tokens import ReauthenticationRequired, fresh_access_token
from devtools.processes import manage as run_manage
from tests.support import database_url

User = get_user_model()


def manage(*args, encryption_key):
    """``manage.py`` in a new process (fresh key caches) on the test database."""
    env = {
        **os.environ,
        "ENCRYPTION_KEY": encryption_key,
        "DATABASE_URL": database_url(connection.settings_dict["NAME"]),
    }
    return run_manage(*args, env=env)


def raw_tokens():
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounts_spotifytoken ORDER BY id")
        return [(bytes(access), bytes(refresh)) for access, refresh in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_rotating_the_encryption_key_end_to_end(fake_spotify, fernet_keys):
    old = settings.FERNET_KEYS[0]
    new = Fernet.generate_key().decode()
    for listener in ("alice", "bob"):
        log_in(browser(), listener)
    plaintext = {token.user.username: token.access_token for token in SpotifyToken.objects.all()}

    result = manage("rotate_encryption_key", encryption_key=f"{new},{old}")

    assert result.returncode == 0, result.stderr
    assert "Re-encrypted 2 token rows under the first key of ENCRYPTION_KEY." in result.stdout
    for access, refresh in raw_tokens():
        for value in (access, refresh):
            assert Fernet(new).decrypt(value).startswith(b"fake")
            with pytest.raises(InvalidToken):
                Fernet(old).decrypt(value)

    # Afterwards the old key can go.
    fernet_keys([new])
    alice = User.objects.get(username="alice")
    assert fresh_access_token(alice) == plaintext["alice"]


@pytest.mark.django_db(transaction=True)
def test_a_wrong_key_fails_loudly_and_changes_nothing(fake_spotify, fernet_keys, caplog):
    log_in(browser(), "alice")
    before = raw_tokens()
    wrong = Fernet.generate_key().decode()

    result = manage("rotate_encryption_key", encryption_key=wrong)

    assert result.returncode != 0
    assert "Re-encrypted 0 token rows" in result.stdout
    assert "1 token row(s) could not be decrypted" in result.stderr
    assert raw_tokens() == before

    fernet_keys([wrong])
    alice = User.objects.get(username="alice")
    with pytest.raises(ReauthenticationRequired) as raised:
        fresh_access_token(alice)
    assert raised.value.reason == "undecryptable"
    assert "Cannot decrypt the Spotify tokens of user alice" in caplog.text
    assert raw_tokens() == before
    # The admin still shows the listener (it never loads the encrypted columns).
    operator = browser()
    operator.force_login(User.objects.create_superuser("operator", password="x-long-password"))
    assert operator.get("/admin/auth/user/").status_code == 200
    assert operator.get(f"/admin/auth/user/{alice.pk}/change/").status_code == 200

    # Logging in again stores new tokens under the key now configured.
    client = browser()
    log_in(client, "alice")
    assert raw_tokens() != before
    assert fresh_access_token(alice).startswith("fakeAT-")


@pytest.mark.django_db
def test_a_dry_run_reports_and_changes_nothing(fake_spotify, fernet_keys):
    log_in(browser(), "alice")
    before = raw_tokens()
    fernet_keys([Fernet.generate_key().decode(), settings.FERNET_KEYS[0]])
    from io import StringIO

    out = StringIO()
    call_command("rotate_encryption_key", "--dry-run", stdout=out)
    assert "Would re-encrypt 1 token row under the first key" in out.getvalue()
    assert raw_tokens() == before


@pytest.mark.django_db
def test_the_command_fails_when_a_row_does_not_decrypt(fake_spotify, fernet_keys):
    log_in(browser(), "alice")
    fernet_keys([Fernet.generate_key().decode()])
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_encryption_key")


def _fingerprint(key):
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@pytest.mark.django_db
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "for real"])
def test_the_command_shows_which_key_encrypts_and_which_it_accepts(fernet_keys, dry_run):
    """So the operator sees new,old versus old,new before running it for real."""
    new, old = Fernet.generate_key().decode(), settings.FERNET_KEYS[0]
    fernet_keys([new, old])
    out = io.StringIO()

    call_command("rotate_encryption_key", *(["--dry-run"] if dry_run else []), stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        f"Encrypting with key {_fingerprint(new)} (the first of ENCRYPTION_KEY).",
        f"Accepting keys {_fingerprint(new)}, {_fingerprint(old)} (SHA-256, first 8 hex digits).",
    ]
    assert new not in out.getvalue()
    assert old not in out.getvalue()
