from django.apps import AppConfig


class SpotifyStatsConfig(AppConfig):
    name = "spotify_stats"
    verbose_name = "Spotify stats"
