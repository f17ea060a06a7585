"""Listeners who opted in to the sync, with real tokens from the fake Spotify."""

from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from accounts.tests.helpers import browser, log_in
from accounts.tokens import save_login_tokens
from devtools.fakespotify.pytest_plugin import login
from listening_history import sync
from listening_history.models import Source, SyncState

RECENTLY_PLAYED = "/v1/me/player/recently-played"


def synced_listener(fake, spotify_id, *, username=None, opt_in=True):
    """A Euterpe listener who logged in as ``spotify_id`` (through Euterpe's own login
    with the fake Spotify), opted in. With ``username``, another Euterpe account holding
    tokens of the same Spotify account (to compare two histories of one listener)."""
    if username is None:
        log_in(browser(), spotify_id)
        user = get_user_model().objects.get(username=spotify_id)
    else:
        user = get_user_model().objects.create_user(username=username)
        store_tokens(fake, user, spotify_id)
    if opt_in:
        sync.opt_in(user)
    return user


def store_tokens(fake, user, spotify_id=None):
    """What a login stores for the sync: fresh tokens, and ``last_login`` now."""
    grant = login(fake, spotify_id or user.username)
    save_login_tokens(
        user,
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        expires_in=grant["expires_in"],
    )
    get_user_model().objects.filter(pk=user.pk).update(last_login=timezone.now())


def make_due(*users):
    """As if the interval had passed since their last sync."""
    rows = SyncState.objects.all()
    if users:
        rows = rows.filter(user_id__in=[user.pk for user in users])
    rows.update(started_at=timezone.now() - timedelta(days=1))


def entries(user, source=None):
    """(ts, ms_played, source, track name, artist, track uri) of the listener's entries."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.ts, e.ms_played, e.source, i.track_name, a.name, i.track_uri
            FROM listening_history_entry e
            JOIN listening_history_item i ON i.id = e.item_id
            LEFT JOIN listening_history_artist a ON a.id = i.artist_id
            WHERE e.user_id = %s AND (%s::smallint IS NULL OR e.source = %s)
            ORDER BY 1, 3, 4
            """,
            [user.pk, source, source],
        )
        return cursor.fetchall()


def synced(user):
    return entries(user, Source.SYNC)


def moment(text):
    """A fake's ``played_at`` as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso(at):
    """An aware datetime as an extended export writes ``ts``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
