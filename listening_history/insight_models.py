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
    """One computed summary (``insights.summary``) of a preset period, as JSON.

    ``stamp`` names the state of the listener's history it was computed from
    (``precompute.history_stamp``): a row whose stamp is not the current one is
    stale and never served.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    zone = models.CharField(max_length=64)
    period = models.CharField(max_length=32, help_text="'all' or 'YYYY-MM-DD..YYYY-MM-DD'.")
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
