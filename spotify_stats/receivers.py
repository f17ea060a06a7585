"""The one cleanup every deletion of a listener triggers: their cached Spotify data goes.

The deliberate exception to the house style's "business logic in plain
functions, not in signals" (STYLE.md), for cleanup every deletion must do: a
listener is deleted by Disconnect, by the admin (one or many at once), by
``manage.py shell`` or by code not written yet, and Spotify's terms want what
Euterpe cached for them gone every time. A receiver of the user's post_delete
is the one place every path passes, so none can forget; ``accounts`` knows
nothing of the cache. "Refresh now" drops the cache too, but it is no deletion:
it calls ``forget_sections`` itself.

The entries go once the deletion commits: a deletion that rolls back keeps
them, and with the database cache (same database, same transaction) forgetting
them earlier could be rolled back with it.
"""

from django.db import transaction

from spotify_stats.cache import forget_listener


def forget_deleted_listener(sender, instance, using, **kwargs):
    """post_delete of the user model (connected in SpotifyStatsConfig.ready)."""
    user_id = instance.pk
    transaction.on_commit(lambda: forget_listener(user_id), using=using)
