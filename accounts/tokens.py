"""A listener's Spotify tokens: stored encrypted, kept fresh, dropped when refused.

Every Spotify call of Euterpe starts with :func:`fresh_access_token`. When it
raises :class:`ReauthenticationRequired`, the listener has to log in with
Spotify again: let the exception propagate out of the view
(``accounts.middleware.PrivatePagesMiddleware`` ends the session and sends
the listener to /login with a message) or call ``accounts.views.reauthenticate``.
"""

import hmac
import logging
from datetime import timedelta

from cryptography.fernet import InvalidToken
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

import spotify_client
from accounts.models import SpotifyToken

logger = logging.getLogger(__name__)

# Refresh this long before Spotify's expiry, so a token never dies mid-page.
REFRESH_MARGIN = timedelta(minutes=2)
# Spotify's access tokens last an hour; assumed when its expires_in makes no sense.
DEFAULT_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 86400


class ReauthenticationRequired(Exception):
    """The listener must log in with Spotify again.

    ``reason`` is one of ``"no_tokens"``, ``"revoked"`` (Spotify answered
    invalid_grant: revoked, or past the six-month refresh-token lifetime) and
    ``"undecryptable"`` (ENCRYPTION_KEY lacks the key the tokens were stored under).
    """

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


def expires_in_seconds(value):
    """Spotify's ``expires_in`` as a sane number of seconds.

    An int or a string of digits within 1..MAX_EXPIRES_IN is taken as it is;
    anything else (missing, negative, 10**20, "soon", 3600.5, True) is
    DEFAULT_EXPIRES_IN, so a malformed answer never breaks a login or a refresh.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_EXPIRES_IN:
        return value
    return DEFAULT_EXPIRES_IN


# @sensitive_variables() with no names: Django's error reports (DEBUG off) hide
# every local of these functions and of the frames they call (the ORM's, the
# client's), which hold tokens under names of their own.
@sensitive_variables()
def save_login_tokens(user, *, access_token, refresh_token, expires_in, scope=""):
    """Store the tokens of a completed login, replacing any the listener had.

    Written with UPDATE/INSERT so that stored tokens which no longer decrypt
    (after a key mix-up) are overwritten without ever being loaded.
    """
    now = timezone.now()
    values = {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "expires_at": now + timedelta(seconds=expires_in_seconds(expires_in)),
        "scope": scope or "",
        "last_refreshed_at": None,
        "updated_at": now,
    }
    rows = SpotifyToken.objects.filter(user_id=user.pk)
    if rows.update(**values):
        return
    try:
        with transaction.atomic():
            SpotifyToken.objects.create(user_id=user.pk, **values)
    except IntegrityError:
        # Another login of the same listener inserted first; ours is as good.
        rows.update(**values)


@sensitive_variables()
def fresh_access_token(user, *, rejected_token=None):
    """A Spotify access token of ``user`` that is good for at least two minutes.

    Refreshes when the stored token expires within REFRESH_MARGIN, or when
    ``rejected_token`` (a token Spotify just answered 401 to) is still the stored
    one; call it at most once per 401, never in a loop. Concurrent callers for
    one listener refresh once: the refresh holds the token row's lock
    (``select_for_update``) and every caller re-reads the row after taking it, so
    late arrivals get the token the first one fetched. The lock is held for one
    token call, bounded by the client's timeout.

    A new refresh token in Spotify's answer replaces the stored one; without one
    the stored refresh token stays.

    Raises ReauthenticationRequired when there are no tokens, when Spotify
    refuses the refresh token (the stored tokens are deleted) or when they cannot
    be decrypted. Other ``spotify_client`` errors (RateLimited,
    SpotifyUnavailable, BadResponse) propagate unchanged; the tokens stay.
    """
    stored = _load(SpotifyToken.objects.filter(user_id=user.pk), user)
    if not _must_refresh(stored, rejected_token):
        return stored.access_token

    with transaction.atomic():
        stored = _load(SpotifyToken.objects.select_for_update().filter(user_id=user.pk), user)
        if not _must_refresh(stored, rejected_token):
            # Another request refreshed while this one waited for the lock.
            return stored.access_token
        logger.info("Refreshing token for user %s", user.get_username())
        try:
            grant = spotify_client.refresh_access_token(stored.refresh_token)
        except spotify_client.TokenRevoked:
            # Fatal only because the row is locked: the refresh token Spotify
            # refused is certainly still the stored one (no one refreshed since).
            SpotifyToken.objects.filter(pk=stored.pk).delete()
            revoked = True
        else:
            revoked = False
            now = timezone.now()
            stored.access_token = grant.access_token
            if grant.refresh_token:
                stored.refresh_token = grant.refresh_token
            stored.expires_at = now + timedelta(seconds=expires_in_seconds(grant.expires_in))
            if grant.scope:
                stored.scope = grant.scope
            stored.last_refreshed_at = now
            stored.save()
    if revoked:
        # Raised outside the atomic block, so that the deletion is committed.
        logger.warning(
            "Spotify refused the refresh token of user %s; tokens deleted", user.get_username()
        )
        raise ReauthenticationRequired("revoked")
    return grant.access_token


@sensitive_variables()
def _load(queryset, user):
    try:
        stored = queryset.first()
    except InvalidToken:
        logger.error(
            "Cannot decrypt the Spotify tokens of user %s: ENCRYPTION_KEY does not hold the "
            "key they were encrypted with; the listener must log in again",
            user.get_username(),
        )
        raise ReauthenticationRequired("undecryptable") from None
    if stored is None:
        raise ReauthenticationRequired("no_tokens")
    return stored


@sensitive_variables()
def _must_refresh(stored, rejected_token):
    if rejected_token is not None and hmac.compare_digest(
        stored.access_token.encode(), rejected_token.encode()
    ):
        return True
    return stored.expires_at - timezone.now() <= REFRESH_MARGIN
