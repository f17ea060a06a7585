import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "euterpe_site.settings")

try:
    application = get_wsgi_application()
except ImproperlyConfigured as error:
    # A bad environment: one line in the log and a non-zero exit, no traceback.
    sys.exit(str(error))

# Imported once the settings are loaded: the schema module reads them.
from euterpe_site.schema import verify_at_startup

verify_at_startup()
