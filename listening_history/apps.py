from django.apps import AppConfig


class ListeningHistoryConfig(AppConfig):
    name = "listening_history"
    verbose_name = "Listening history"
    default_auto_field = "django.db.models.BigAutoField"
