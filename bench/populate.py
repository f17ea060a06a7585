"""Fill a stack's database with many listeners, as a busy Euterpe would hold them.

    python -m bench.populate --listeners 10000 --template-user-id 22 --admin-password ...

Run by ``bench.dashboard`` (``make bench BENCH_LISTENERS=10000``) in a fresh
process with the stack's environment, so tokens are encrypted under the stack's
ENCRYPTION_KEY and sessions signed under its SECRET_KEY. For each listener:

- a Django user (username ``bench-NNNNN``, an unusable password) and its
  social-auth link (provider ``spotify``);
- encrypted Spotify tokens (``accounts.SpotifyToken``, Fernet like a login's);
- a live session (``accounts.ListenerSession``, 30 days) and an expired one;
- the cached sections of the template listener's dashboard, copied under the
  listener's own keys (the values are signed over their content, not their key,
  so the copies verify), and as many expired cache entries;
- refused logins, half of them older than the 90 days ``purge_expired`` keeps.

Plus one superuser ``bench-admin`` for the admin's listener list. Rows go in with
``bulk_create`` (and one ``INSERT … SELECT`` for the cache) in batches. Prints one
JSON line: what was made and how long it took.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import timedelta

BATCH = 1000


def populate(listeners: int, template_user_id: int, admin_password: str) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone
    from social_django.models import UserSocialAuth

    from accounts.models import ListenerSession, RefusedLogin, SpotifyToken
    from accounts.sessions import SessionStore
    from spotify_stats.cache import ENTRY_FORMAT

    User = get_user_model()
    started = time.monotonic()
    now = timezone.now()
    unusable = make_password(None)
    made = {"listeners": listeners}

    with transaction.atomic():
        User.objects.create_superuser("bench-admin", "", admin_password)
    for first in range(0, listeners, BATCH):
        numbers = range(first, min(first + BATCH, listeners))
        with transaction.atomic():
            users = User.objects.bulk_create(
                User(
                    username=f"bench-{n:05d}",
                    first_name=f"Bench Listener {n}",
                    password=unusable,
                    last_login=now - timedelta(minutes=n % 5000),
                )
                for n in numbers
            )
            UserSocialAuth.objects.bulk_create(
                UserSocialAuth(user=user, provider="spotify", uid=user.username, extra_data={})
                for user in users
            )
            SpotifyToken.objects.bulk_create(
                SpotifyToken(
                    user=user,
                    access_token=secrets.token_urlsafe(96),
                    refresh_token=secrets.token_urlsafe(96),
                    expires_at=now + timedelta(minutes=30 + user.pk % 30),
                    scope=settings.SPOTIFY_SCOPE,
                    last_refreshed_at=now - timedelta(hours=user.pk % 48) if user.pk % 3 else None,
                )
                for user in users
            )
            sessions = []
            for user in users:
                data = {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
                encoded = SessionStore().encode(data)
                sessions.append(
                    ListenerSession(
                        session_key=secrets.token_hex(16),
                        session_data=encoded,
                        expire_date=now + timedelta(days=30),
                        user=user,
                    )
                )
                sessions.append(
                    ListenerSession(
                        session_key=secrets.token_hex(16),
                        session_data=encoded,
                        expire_date=now - timedelta(days=1 + user.pk % 20),
                        user=user,
                    )
                )
            ListenerSession.objects.bulk_create(sessions)
            RefusedLogin.objects.bulk_create(
                RefusedLogin(reason=RefusedLogin.Reason.NOT_ON_ALLOW_LIST, user_agent="bench")
                for _ in numbers
            )
    # created_at is auto_now_add: half of them moved past the 90 days kept.
    RefusedLogin.objects.filter(pk__in=RefusedLogin.objects.all()[: listeners // 2]).update(
        created_at=now - timedelta(days=100)
    )
    made["sessions"] = ListenerSession.objects.count()
    made["refused_logins"] = RefusedLogin.objects.count()

    table = connection.ops.quote_name(settings.CACHE_TABLE)
    users = connection.ops.quote_name(User._meta.db_table)
    prefix = f"spotify:{ENTRY_FORMAT}:"
    with transaction.atomic(), connection.cursor() as cursor:
        # Every listener gets the template listener's sections under their own keys...
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) "
            "SELECT replace(entry.cache_key, %s, %s || u.id || ':'), entry.value, entry.expires "
            f"FROM {table} entry CROSS JOIN {users} u "
            "WHERE entry.cache_key LIKE %s AND u.username LIKE 'bench-0%%'",
            [f"{prefix}{template_user_id}:", prefix, f"%{prefix}{template_user_id}:%"],
        )
        made["cache_entries"] = cursor.rowcount
        # ... and one entry per listener that expired an hour ago (purge_expired's work).
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) "
            "SELECT 'expired:' || entry.cache_key, entry.value, now() - interval '1 hour' "
            f"FROM {table} entry WHERE entry.cache_key LIKE %s "
            "AND entry.cache_key NOT LIKE %s",
            [f"%{prefix}%:profile", f"%{prefix}{template_user_id}:%"],
        )
        made["expired_cache_entries"] = cursor.rowcount
        cursor.execute(f"ANALYZE {table}")
    with connection.cursor() as cursor:
        for model in (User, UserSocialAuth, SpotifyToken, ListenerSession, RefusedLogin):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    made["seconds"] = round(time.monotonic() - started, 1)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.populate", description=__doc__)
    parser.add_argument("--listeners", type=int, required=True)
    parser.add_argument(
        "--template-user-id", type=int, required=True, help="whose cached sections to copy"
    )
    parser.add_argument("--admin-password", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "euterpe_site.settings")
    print(json.dumps(populate(args.listeners, args.template_user_id, args.admin_password)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
