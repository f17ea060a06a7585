"""What the views, the admin and the worker do with imports: start, cancel, delete, sweep."""

import functools
import logging
from datetime import UTC

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from listening_history import importer, uploads
from listening_history.insight_models import PrecomputedSummary, RecapShare
from listening_history.models import (
    Album,
    Artist,
    Entry,
    Import,
    Item,
    StagedEntry,
    SyncedPlay,
    SyncState,
    Term,
    UploadFile,
)

logger = logging.getLogger(__name__)


class ImportRefused(Exception):
    """The upload cannot be taken; the message is for the listener."""


def start_import(*, user, files):
    """Store the uploaded ``files`` for ``user`` and queue their import; returns the Import.

    Raises ImportRefused when imports are off, nothing was sent, or the history
    tables already take the whole storage budget.
    """
    if not settings.HISTORY_IMPORT_ENABLED:
        raise ImportRefused("Imports are turned off on this Euterpe for now.")
    files = [upload for upload in files if upload.size]
    if not files:
        raise ImportRefused("Choose at least one file: the ZIP from Spotify or the JSON in it.")
    if importer.history_bytes() >= settings.HISTORY_STORAGE_BUDGET_MB * importer.MB:
        raise ImportRefused(
            "Euterpe has no room for more listening history right now; nothing was uploaded. "
            "Please ask the person who runs Euterpe."
        )
    with transaction.atomic():
        upload = Import.objects.create(
            user=user,
            upload_bytes=sum(upload.size for upload in files),
            upload_names=[upload.name[:255] for upload in files],
        )
        for position, uploaded in enumerate(files):
            uploads.store(upload, position, uploaded)
        enqueue(upload)
    logger.info("Import %s queued for user %s", upload.pk, user.get_username())
    return upload


DEMO_EXPORT_NAME = "my_spotify_data.zip"


def start_demo_import(*, user):
    """Queue the import of the generated demo export for ``user``; returns the Import.

    Demo mode only (``SPOTIFY_DEMO``, the fake Spotify's made-up listeners): the
    caller checks. The ZIP is the one ``devtools.demo_export`` writes, and it takes
    the path of any upload (start_import, the worker), refusals included.
    """
    if not settings.SPOTIFY_DEMO:
        raise ImportRefused("The demo export is only offered in demo mode.")
    data = _demo_export()
    return start_import(
        user=user, files=[SimpleUploadedFile(DEMO_EXPORT_NAME, data, "application/zip")]
    )


@functools.cache
def _demo_export():
    # devtools ships with the app; only demo mode ever imports the generator.
    from devtools import demo_export

    return demo_export.generate().data


def enqueue(upload, *, delay=None):
    """Queue the worker task for ``upload`` (when the transaction commits)."""
    from listening_history.tasks import import_history

    task = import_history
    if delay is not None:
        task = task.using(run_after=timezone.now() + delay)

    def send():
        result = task.enqueue(str(upload.pk))
        Import.objects.filter(pk=upload.pk).update(task_id=str(result.id)[:64])

    transaction.on_commit(send)


def cancel_import(upload):
    """Cancel a queued or running import; returns whether it was still active.

    Waits for a write of the running worker to finish (the row lock), so nothing
    of this import is written after it (its entries are merged only at its end).
    """
    with transaction.atomic():
        locked = Import.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None or not locked.active:
            return False
        locked.state = Import.State.CANCELLED
        locked.finished_at = timezone.now()
        locked.heartbeat_at = None
        locked.save(update_fields=["state", "finished_at", "heartbeat_at"])
        _discard_upload(locked.pk)
        with connection.cursor() as cursor:
            importer.collect_orphans(cursor, locked.user_id)
    logger.info("Import %s cancelled", upload.pk)
    return True


def delete_history(user):
    """Delete every entry and import of ``user`` (a running import is cancelled first:
    the row locks make its worker's next write find nothing to write to), and the plays
    the sync read; an opted-in listener's sync carries on with what they play next."""
    with transaction.atomic():
        list(Import.objects.select_for_update().filter(user=user).order_by("pk").values("pk"))
        # A sync writing for the listener finishes first (its sync row's lock); what
        # the sync read before goes too, and it carries on after its cursor.
        list(SyncState.objects.select_for_update().filter(user=user).values("pk"))
        counts = {"entries": Entry.objects.filter(user=user)._raw_delete(connection.alias)}
        counts["imports"] = Import.objects.filter(user=user).count()
        # The rest cascades in PostgreSQL (upload files, chunks, staged entries).
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM listening_history_import WHERE user_id = %s", [user.pk])
            # Summaries computed from the history go with it (the time zone, a setting, stays),
            # and so do the recaps' share links: a shared link is a 404 from now on.
            for model in (PrecomputedSummary, RecapShare, SyncedPlay, Item, Album, Artist, Term):
                cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE user_id = %s", [user.pk])
    logger.info(
        "History of user %s deleted: %s entries, %s imports",
        user.get_username(),
        counts["entries"],
        counts["imports"],
    )
    return counts


def _discard_upload(import_id):
    StagedEntry.objects.filter(upload_id=import_id)._raw_delete(connection.alias)
    UploadFile.objects.filter(upload_id=import_id).delete()


def sweep_stale_imports(*, stale_after=importer.STALE_AFTER):
    """Re-queue running imports whose worker is gone; returns their ids.

    Gone means: the heartbeat is older than ``stale_after``, or nobody holds the
    listener's import lock (a worker killed by SIGKILL loses its connection and
    the lock with it). The re-run resumes after the last staged file.
    """
    requeued = []
    cutoff = timezone.now() - stale_after
    with transaction.atomic():
        running = list(
            Import.objects.select_for_update(skip_locked=True)
            .filter(state=Import.State.RUNNING)
            .order_by("created_at")
        )
        with connection.cursor() as cursor:
            for upload in running:
                stale = upload.heartbeat_at is None or upload.heartbeat_at < cutoff
                if stale or importer.lock_is_free(cursor, upload.user_id):
                    _give_up_task(upload.task_id)
                    upload.state = Import.State.QUEUED
                    upload.heartbeat_at = None
                    upload.save(update_fields=["state", "heartbeat_at"])
                    enqueue(upload)
                    requeued.append(upload.pk)
    for import_id in requeued:
        logger.warning("Import %s re-queued: its worker stopped answering", import_id)
    return requeued


def _give_up_task(task_id):
    """Mark the dead run's task result failed: django-tasks-db would leave it RUNNING
    for ever, where prune_db_task_results never removes it."""
    from django_tasks_db.models import DBTaskResult

    if task_id:
        DBTaskResult.objects.filter(id=task_id, status="RUNNING").update(
            status="FAILED", finished_at=timezone.now()
        )


def retry_import(upload):
    """Queue an import again now (the admin's action); returns whether it was.

    Only while its upload is still stored: a stuck or lost run (the running one, if
    alive, stops at its next write, since the import is no longer its own) or a
    queued one. A finished import's upload is gone, so it cannot be retried.
    """
    with transaction.atomic():
        locked = Import.objects.select_for_update().get(pk=upload.pk)
        if not UploadFile.objects.filter(upload=locked).exists():
            return False
        _give_up_task(locked.task_id)
        locked.state = Import.State.QUEUED
        locked.finished_at = locked.heartbeat_at = None
        locked.save(update_fields=["state", "finished_at", "heartbeat_at"])
        enqueue(locked)
    logger.info("Import %s queued again by an operator", upload.pk)
    return True


def status(upload):
    """The status JSON's object (the contract the page's script and scripts rely on)."""
    return {
        "id": str(upload.pk),
        "state": upload.state,
        "files": upload.files,
        "entries": upload.entries,
        "added": upload.added,
        "duplicates": upload.duplicates,
        "skipped": upload.skipped,
        "errors": list(upload.errors),
        "created_at": _iso(upload.created_at),
        "finished_at": _iso(upload.finished_at),
    }


def _iso(moment):
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
