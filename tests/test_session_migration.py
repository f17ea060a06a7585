"""accounts' migration 0002: Django's sessions move to accounts.ListenerSession."""

from devtools.processes import manage, run_python
from tests.support import production_env, server_connection

MAKE_OLD_SESSIONS = """
import django; django.setup()
from datetime import timedelta
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
user = get_user_model().objects.create_user("alice")
for data in ({SESSION_KEY: str(user.pk)}, {SESSION_KEY: "999"}, {"anonymous": True}):
    store = SessionStore()
    store.update(data)
    store.save()
expired = SessionStore()
expired[SESSION_KEY] = str(user.pk)
expired.set_expiry(timezone.now() - timedelta(days=1))
expired.save()
"""


def test_the_migration_moves_djangos_sessions_over_with_their_users(empty_database):
    env = production_env(empty_database)
    assert manage("migrate", "auth", env=env).returncode == 0
    assert manage("migrate", "accounts", "0001", env=env).returncode == 0
    assert manage("migrate", "sessions", env=env).returncode == 0
    made = run_python(MAKE_OLD_SESSIONS, env)
    assert made.returncode == 0, made.stderr

    migrated = manage("migrate", env=env)

    assert migrated.returncode == 0, migrated.stderr
    with server_connection(empty_database) as database:
        moved = database.execute(
            "SELECT u.username FROM euterpe.accounts_listenersession s"
            " LEFT JOIN euterpe.auth_user u ON u.id = s.user_id ORDER BY 1"
        ).fetchall()
        left = database.execute("SELECT count(*) FROM euterpe.django_session").fetchone()
    # alice's live session keeps her; one for a user who is gone and an anonymous
    # one come over without a user; the expired one is dropped.
    assert moved == [("alice",), (None,), (None,)]
    assert left == (0,)
