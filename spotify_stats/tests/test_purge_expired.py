"""`manage.py purge_expired`: expired cached Spotify data and sessions go, the rest stays."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import ListenerSession as Session
from accounts.sessions import SessionStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries():
    """Two live and three expired cache entries, three live and two expired sessions."""
    cache.clear()
    cache.set_many({"live:1": "a", "live:2": "b"}, timeout=300)
    cache.set_many({"old:1": "x", "old:2": "y", "old:3": "z"}, timeout=300)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE euterpe_cache SET expires = %s WHERE cache_key LIKE %s",
            [timezone.now() - timedelta(minutes=1), "%old:%"],
        )
    for age in (-3600, -60, 3600, 7200, 86400):
        store = SessionStore()
        store.set_expiry(timezone.now() + timedelta(seconds=age) if age > 0 else 1)
        store.create()
        Session.objects.filter(session_key=store.session_key).update(
            expire_date=timezone.now() + timedelta(seconds=age)
        )
    yield
    cache.clear()


def run(*args):
    out = StringIO()
    call_command("purge_expired", *args, stdout=out)
    return out.getvalue()


def cache_keys():
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM euterpe_cache ORDER BY cache_key")
        return [row[0] for row in cursor.fetchall()]


def test_it_deletes_expired_cache_entries_and_sessions_and_says_how_many(entries):
    output = run()

    assert "Deleted 3 expired cache entries" in output
    assert "Deleted 2 expired sessions" in output
    assert [key.rsplit(":", 2)[-2:] for key in cache_keys()] == [["live", "1"], ["live", "2"]]
    assert cache.get("live:1") == "a"
    assert Session.objects.count() == 3


def test_a_dry_run_only_counts(entries):
    output = run("--dry-run", "--json")

    assert json.loads(output) == {
        "cache_entries": 3,
        "sessions": 2,
        "refused_logins": 0,
        "synced_entries": 0,
        "dry_run": True,
    }
    assert len(cache_keys()) == 5
    assert Session.objects.count() == 5


def test_a_second_run_finds_nothing_left(entries):
    run()

    assert json.loads(run("--json")) == {
        "cache_entries": 0,
        "sessions": 0,
        "refused_logins": 0,
        "synced_entries": 0,
        "dry_run": False,
    }


def test_it_deletes_refused_logins_older_than_90_days(entries):
    from accounts.models import RefusedLogin

    for days in (1, 89, 91, 400):
        record = RefusedLogin.objects.create(reason=RefusedLogin.Reason.NOT_ON_ALLOW_LIST)
        RefusedLogin.objects.filter(pk=record.pk).update(
            created_at=timezone.now() - timedelta(days=days)
        )

    assert json.loads(run("--dry-run", "--json"))["refused_logins"] == 2
    output = run()

    assert "Deleted 2 refused logins older than 90 days" in output
    assert RefusedLogin.objects.count() == 2


def test_a_session_backend_without_a_table_is_cleared_and_not_counted(settings, tmp_path):
    from django.contrib.sessions.backends.file import SessionStore as FileSessionStore

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.file"
    settings.SESSION_FILE_PATH = str(tmp_path)
    for expiry in (timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(hours=1)):
        store = FileSessionStore()
        store["seen"] = True
        store.set_expiry(expiry)
        store.save()
    assert len(list(tmp_path.iterdir())) == 2

    output = run()

    assert "sessions cleared; this backend does not count" in output
    assert len(list(tmp_path.iterdir())) == 1
