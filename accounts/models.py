"""What Euterpe keeps about a listener beyond Django's user: Spotify tokens, encrypted,
and login sessions that know their user.

The Django user is the listener: ``username`` is the Spotify user id and
``first_name`` the current Spotify display name (empty when Spotify has none).
"""

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from fernet_fields import EncryptedTextField


class SpotifyToken(models.Model):
    """A listener's Spotify tokens, encrypted at rest with ENCRYPTION_KEY (Fernet).

    Read and written through :mod:`accounts.tokens` only. Loading a row whose
    tokens were encrypted under a key that ENCRYPTION_KEY no longer holds raises
    ``cryptography.fernet.InvalidToken``: code that only needs the status (admin,
    reports) selects the plain columns with ``.values()`` instead.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="spotify_token"
    )
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    expires_at = models.DateTimeField(help_text="When Spotify said the access token expires.")
    scope = models.TextField(blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Spotify token"

    def __str__(self):
        return f"Spotify token of user #{self.user_id}"


class RefusedLogin(models.Model):
    """A login Spotify turned away because the listener is not on the app's allow-list.

    Spotify refuses /me as well, so who it was is unknown: only when, why and the
    browser's user agent are kept, for 90 days (``services.record_refused_login``).
    """

    class Reason(models.TextChoices):
        NOT_ON_ALLOW_LIST = "not_on_allow_list", "Not on the Development Mode allow-list"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reason = models.CharField(max_length=40, choices=Reason.choices)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "refused login"

    def __str__(self):
        return f"{self.get_reason_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class ListenerSession(AbstractBaseSession):
    """A login session that knows whose it is (Django's documented custom-session-model
    pattern: ``SESSION_ENGINE = "accounts.sessions"``).

    Django's own session table cannot be searched by user: the user id sits inside
    the signed, encoded data. Here it is a column, indexed, so "Log out everywhere"
    deletes every session of a listener with one query, and deleting the user
    (disconnect, the admin, anywhere) deletes their sessions with it (CASCADE).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sessions",
    )

    class Meta(AbstractBaseSession.Meta):
        verbose_name = "session"

    @classmethod
    def get_session_store_class(cls):
        from accounts.sessions import SessionStore

        return SessionStore
