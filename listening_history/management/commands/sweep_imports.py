from django.core.management.base import BaseCommand

from listening_history import services, tasks


class Command(BaseCommand):
    help = (
        "Re-queue history imports that a killed worker left running, and make sure the "
        "periodic sweep is queued. The Procfile's worker runs it before db_worker."
    )

    def handle(self, *args, **options):
        requeued = services.sweep_stale_imports()
        tasks.schedule_sweep()
        self.stdout.write(f"Re-queued {len(requeued)} import{'s' if len(requeued) != 1 else ''}.")
