"""What /history keeps besides the entries: the listener's time zone and precomputed summaries.

Kept apart from ``models`` (the import's tables) so that each concern reads on its own;
``models`` imports this module so Django registers both.
"""

from django.conf import settings
from django.db import models


class ListenerZone(models.Model):
    """The time zone a listener's days, hours and weekdays follow (any zoneinfo name)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.DB_CASCADE,
        primary_key=True,
        related_name="history_zone",
    )
    name = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.name


class PrecomputedSummary(models.Model):
    """One computed summary (``insights.summary``, or ``insights.detail`` for an artist's or a
    track's page) of a preset period, as JSON.

    ``stamp`` names the state of the listener's history it was computed from
    (``precompute.history_stamp``): a row whose stamp is not the current one is
    stale and never served.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    zone = models.CharField(max_length=64)
    period = models.CharField(
        max_length=80,
        help_text="'all' or 'YYYY-MM-DD..YYYY-MM-DD'; an artist's or a track's page prefixes "
        "'artist:<id>:' or 'track:<id>:'; discoveries are 'discoveries:<version>:<day>'.",
    )
    order = models.CharField(max_length=8, default="time")
    stamp = models.CharField(max_length=128)
    data = models.JSONField()
    built_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "zone", "period", "order"], name="lh_summary_key"
            )
        ]

    def __str__(self):
        return f"{self.zone} {self.period} {self.order}"


class SyncState(models.Model):
    """A listener's sync of recently played (``listening_history.sync``), never a token.

    ``started_at`` claims the listener for a round (a round syncs those whose last
    sync started more than HISTORY_SYNC_INTERVAL_MINUTES ago); ``cursor_ms`` is the
    newest ``played_at`` read (Unix ms, the ``after`` of the next call); ``paused``
    says why the sync waits for the listener to log in again (``paused_at`` before
    their last login resumes it).
    """

    class Pause(models.TextChoices):
        NONE = "", "—"
        REVOKED = "revoked", "Spotify refused the refresh token"
        NO_TOKENS = "no_tokens", "No Spotify tokens"
        UNDECRYPTABLE = "undecryptable", "Tokens cannot be decrypted"
        NOT_ON_ALLOW_LIST = "not_on_allow_list", "Not on the app's allow-list"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.DB_CASCADE,
        primary_key=True,
        related_name="history_sync",
    )
    opted_in = models.BooleanField(default=False)
    opted_in_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last sync that reached Spotify ended."
    )
    last_added = models.IntegerField(default=0, help_text="Entries the last sync added.")
    total_added = models.IntegerField(default=0)
    cursor_ms = models.BigIntegerField(null=True, blank=True)
    paused = models.CharField(max_length=20, choices=Pause.choices, default="", blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # When the sync (or the purge of synced entries) last changed the entries: part of
    # the summaries' history stamp.
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "history sync"
        indexes = [
            models.Index(
                fields=["started_at"],
                name="lh_sync_due",
                condition=models.Q(opted_in=True),
            )
        ]

    def __str__(self):
        return f"sync of user #{self.user_id}"


class SyncedPlay(models.Model):
    """Every play the sync read, as Spotify gave it: ``played_at`` and the track's length.

    The entries hold the synced plays that no imported entry stands for; which ones
    those are is decided again over the whole neighbourhood whenever an import or a
    sync touches it (``matcher.resync``), so the result does not depend on the order
    in which exports and syncs arrived. Purged with the synced entries after
    HISTORY_SYNC_RETENTION_DAYS.
    """

    pk = models.CompositePrimaryKey("user_id", "played_at", "item_id")
    played_at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    item = models.ForeignKey(
        "listening_history.Item",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    ms_played = models.IntegerField(help_text="The track's length (an estimate).")

    def __str__(self):
        return f"{self.played_at:%Y-%m-%d %H:%M:%S}"


class RecapShare(models.Model):
    """A listener's public link to one yearly recap (``/shared/recap/<token>``).

    Opt-in and revocable: revoking deletes the row, and so do "Delete my history"
    (``services.delete_history``) and a disconnect (``ON DELETE CASCADE`` in PostgreSQL),
    so the link is a 404 at once. The page shows the recap and ``display_name`` only.
    """

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    year = models.SmallIntegerField()
    display_name = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "year"], name="lh_recapshare_year")]

    def __str__(self):
        return f"recap {self.year} shared as {self.display_name}"
