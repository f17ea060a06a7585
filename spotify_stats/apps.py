from django.apps import AppConfig


class SpotifyStatsConfig(AppConfig):
    name = "spotify_stats"
    verbose_name = "Spotify stats"

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import post_delete

        from spotify_stats.receivers import forget_deleted_listener

        # Deliberately a signal (see spotify_stats/receivers.py): every deletion path.
        post_delete.connect(
            forget_deleted_listener,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="spotify_stats.forget_deleted_listener",
        )
