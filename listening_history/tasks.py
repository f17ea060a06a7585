"""The worker's tasks (django.tasks, run by django-tasks-db's `db_worker`)."""

import logging
from datetime import timedelta

from django.db import DatabaseError
from django.tasks import task
from django.utils import timezone

from listening_history import discoveries, importer, precompute, services, sync
from listening_history.models import Import

logger = logging.getLogger(__name__)

BUSY_RETRY = timedelta(seconds=5)
SWEEP_EVERY = timedelta(seconds=60)


@task()
def import_history(import_id):
    """Run one import; when another import of the listener holds the lock, try again soon."""
    outcome = importer.run(import_id)
    if outcome == "busy":
        upload = Import.objects.filter(pk=import_id, state=Import.State.QUEUED).first()
        if upload is not None:
            services.enqueue(upload, delay=BUSY_RETRY)
    elif outcome == Import.State.DONE:
        _rebuild_after(import_id)
    return str(outcome)


def _rebuild_after(import_id):
    user_id = Import.objects.filter(pk=import_id).values_list("user_id", flat=True).first()
    if user_id is None:
        return
    try:
        _rebuild(user_id)
    except DatabaseError:
        # The import is done and its entries are kept; pages compute what is missing.
        logger.exception("Summaries of user %s not rebuilt after import %s", user_id, import_id)


@task()
def rebuild_summaries(user_id):
    """Precompute the listener's preset summaries (after a zone change)."""
    return _rebuild(user_id)


def _rebuild(user_id):
    """Every preset summary and today's discoveries of the listener's zone."""
    built = precompute.rebuild(user_id)
    discoveries.rebuild(user_id)
    return built


@task()
def sweep_imports():
    """Re-queue imports a killed worker left running, then come back in SWEEP_EVERY."""
    requeued = services.sweep_stale_imports()
    schedule_sweep()
    return len(requeued)


def schedule_sweep():
    """Queue the next sweep unless one is already waiting (one chain, however many workers)."""
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(
        task_path=sweep_imports.module_path, status="READY"
    ).exists()
    if not waiting:
        sweep_imports.using(run_after=timezone.now() + SWEEP_EVERY).enqueue()


@task()
def sync_round():
    """One round of the sync of recently played (``manage.py sync_history`` queues it)."""
    return sync.run_round().as_dict()
