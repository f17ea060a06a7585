from django.apps import AppConfig


class EuterpeSiteConfig(AppConfig):
    name = "euterpe_site"
    verbose_name = "Euterpe"

    def ready(self):
        from euterpe_site import checks  # noqa: F401  (registers system checks)
