"""Django's migrate, with Euterpe's schema errors as one clear line.

The schema hook (euterpe_site.postgresql) runs inside migrate; a role that may
not create the schema, or a connection in the wrong schema, ends with the reason
and a non-zero exit instead of a traceback.
"""

from django.core.management.base import CommandError
from django.core.management.commands import migrate

from euterpe_site.schema import SchemaError


class Command(migrate.Command):
    def handle(self, *args, **options):
        try:
            return super().handle(*args, **options)
        except SchemaError as error:
            raise CommandError(str(error)) from error
