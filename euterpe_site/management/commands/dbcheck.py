import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from euterpe_site import dbcheck


class Command(BaseCommand):
    help = (
        "Check Euterpe's database: schema and search_path, tables against the models, "
        "unapplied migrations, that nothing of Euterpe's sits in 'public', and the schema's "
        "and database's sizes (a warning at 80% of HISTORY_STORAGE_BUDGET_MB). "
        "Exits non-zero when unhealthy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the /db_check JSON.")
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        report = dbcheck.run(connections[options["database"]])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self._print(report)
        if not report.healthy:
            raise CommandError("Database check failed: " + "; ".join(report.problems))

    def _print(self, report):
        self.stdout.write(f"Euterpe database check (schema {report.schema!r})")
        for number, (ok, text) in enumerate(report.steps, start=1):
            mark = self.style.SUCCESS("ok  ") if ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{number:>2}. [{mark}] {text}")
        for table in report.tables:
            self.stdout.write(f"      - {table}")
        for note in report.notes:
            self.stdout.write(self.style.WARNING(f"note: {note}"))
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"WARNING: {warning}"))
        if report.users_count is not None:
            self.stdout.write(f"Users: {report.users_count}")
        if report.healthy:
            self.stdout.write(self.style.SUCCESS("Database is healthy."))
