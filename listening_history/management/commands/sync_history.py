import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from listening_history import sync, tasks


class Command(BaseCommand):
    help = (
        "Queue one round of the sync of recently played (HISTORY_SYNC_ENABLED) for the "
        "worker, unless a round is already queued or running. Run it every 10 minutes "
        "from Heroku Scheduler, which may fire twice: the second finds the first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the outcome as JSON.")

    def handle(self, *args, **options):
        outcome = enqueue_round()
        if options["json"]:
            self.stdout.write(json.dumps(outcome))
        elif outcome["queued"]:
            self.stdout.write(self.style.SUCCESS(f"Sync round queued ({outcome['task_id']})."))
        else:
            self.stdout.write(outcome["reason"])


def enqueue_round():
    """Queue a round unless one is queued or running; what happened, as a dict."""
    if not settings.HISTORY_SYNC_ENABLED:
        return {"queued": False, "reason": "The sync is off (HISTORY_SYNC_ENABLED)."}
    from django_tasks_db.models import DBTaskResult

    with transaction.atomic():
        # Two Scheduler runs at the same moment: the second waits here, then sees the
        # first one's round.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [sync.ROUND_LOCK_CLASS, sync.ENQUEUE_LOCK]
            )
        rounds = DBTaskResult.objects.filter(
            task_path=tasks.sync_round.module_path, status__in=["READY", "RUNNING"]
        )
        alive = []
        running_now = None
        for result in rounds.select_for_update():
            if result.status == "READY":
                alive.append(result)
                continue
            if running_now is None:
                running_now = sync.round_running()
            young = result.started_at and result.started_at > timezone.now() - sync.STARTING_GRACE
            if running_now or young:
                alive.append(result)
            else:
                # Its worker died mid-round (django-tasks-db leaves it RUNNING for ever).
                result.status = "FAILED"
                result.finished_at = timezone.now()
                result.save(update_fields=["status", "finished_at"])
        if alive:
            return {
                "queued": False,
                "reason": "A sync round is already queued or running; not queued again.",
                "task_id": str(alive[0].id),
            }
        result = tasks.sync_round.enqueue()
    return {"queued": True, "reason": "", "task_id": str(result.id)}
