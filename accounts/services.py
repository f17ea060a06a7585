"""Listener accounts: created from a Spotify login, kept current, deleted on request."""

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from social_django.models import UserSocialAuth

from accounts.models import RefusedLogin, SpotifyToken

logger = logging.getLogger(__name__)

FIRST_NAME_MAX_LENGTH = 150
USER_AGENT_MAX_LENGTH = 300
# How long the admin sees refused logins (the privacy page says so).
REFUSED_LOGIN_RETENTION = timedelta(days=90)
# social-auth's name of the Spotify backend (UserSocialAuth.provider).
SPOTIFY_PROVIDER = "spotify"


class UsernameTaken(Exception):
    """A Django user named like the Spotify id exists but is not that Spotify account's.

    Say a superuser ``bob`` made with ``createsuperuser``: the Spotify account
    whose id is ``bob`` must not log in as them.
    """


def display_name(user):
    """What Euterpe calls the listener: the Spotify display name, else the Spotify id.

    The one definition: the page header and title, the profile section and
    /health all say this (``{{ user|display_name }}`` in templates).
    """
    return user.get_full_name() or user.get_username()


def one_line(text):
    """``text`` with line breaks and other control characters turned into spaces (for logs)."""
    return "".join(" " if not char.isprintable() else char for char in str(text))


def listener_for_login(*, spotify_id, spotify_name):
    """The Django user of Spotify account ``spotify_id``, created on first login.

    One user per Spotify account, keyed by ``username == spotify_id``. An existing
    user of that name is only theirs when it is already linked to this Spotify
    account (a ``UserSocialAuth`` with provider "spotify" and uid ``spotify_id``:
    an earlier login, or a racing one that linked it first); any other raises
    UsernameTaken, and nothing of that user changes. The display name
    (``first_name``, cut to 150 characters; "" when Spotify has none) is updated
    at every login. Two first logins racing for one account end with one user.
    Returns ``(user, created)``.
    """
    user_model = get_user_model()
    first_name = (spotify_name or "")[:FIRST_NAME_MAX_LENGTH]
    try:
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(
                username=spotify_id, defaults={"first_name": first_name}
            )
    except IntegrityError:
        user, created = user_model.objects.get(username=spotify_id), False
    if not created and not _linked_to(user, spotify_id):
        raise UsernameTaken(spotify_id)
    if not created and user.first_name != first_name:
        user.first_name = first_name
        user.save(update_fields=["first_name"])
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, created


def _linked_to(user, spotify_id):
    return UserSocialAuth.objects.filter(
        user_id=user.pk, provider=SPOTIFY_PROVIDER, uid=spotify_id
    ).exists()


def record_refused_login(*, reason, user_agent=""):
    """Remember that Spotify turned a listener away, for the admin to see.

    Records older than REFUSED_LOGIN_RETENTION are deleted on the way.
    """
    purge_refused_logins()
    return RefusedLogin.objects.create(
        reason=reason, user_agent=(user_agent or "")[:USER_AGENT_MAX_LENGTH]
    )


def purge_refused_logins(*, dry_run=False):
    """Delete the refused logins older than REFUSED_LOGIN_RETENTION; how many
    (with ``dry_run``, only count them).

    For the periodic purge: without it, old records stay until someone else is refused.
    """
    old = RefusedLogin.objects.filter(created_at__lt=timezone.now() - REFUSED_LOGIN_RETENTION)
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    return deleted


def disconnect_listener(user):
    """Delete everything Euterpe holds about ``user``: tokens, the social-auth
    association, every session of theirs on every device (``accounts.ListenerSession``
    rows go with the user: CASCADE) and the account itself. Their cached Spotify data
    goes with the account: the dashboard forgets a deleted user's cache by itself.

    The cached data is forgotten once the deletion is committed: a dashboard still
    waiting on Spotify writes its sections only while the user exists
    (``spotify_stats.cache.store_sections``), so nothing it writes survives.
    """
    spotify_id = user.get_username()
    user_id = user.pk
    with transaction.atomic():
        # The listener's row first: whatever writes on their behalf in another
        # transaction (a history import locks this row too) finishes before anything
        # here is deleted, or finds the listener gone. One lock order, no deadlock.
        list(get_user_model().objects.select_for_update().filter(pk=user_id).values("pk"))
        SpotifyToken.objects.filter(user_id=user_id).delete()
        UserSocialAuth.objects.filter(user_id=user_id).delete()
        user.delete()
    logger.info("User %s disconnected; their data was deleted", spotify_id)
