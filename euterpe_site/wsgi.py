import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "euterpe_site.settings")

application = get_wsgi_application()

from euterpe_site.schema import verify_at_startup  # noqa: E402  (needs settings)

verify_at_startup()
