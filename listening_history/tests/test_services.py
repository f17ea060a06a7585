from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from listening_history import importer, precompute, services
from listening_history.insight_models import PrecomputedSummary
from listening_history.models import Entry, Import, Item
from listening_history.tasks import import_history, sweep_imports
from listening_history.tests.helpers import extended, json_upload, listener, run_import
from tests.support import server_connection

pytestmark = pytest.mark.django_db(transaction=True)


def _queued(user):
    return services.start_import(
        user=user, files=[json_upload("e.json", [extended("2021-01-01T00:00:00Z", 1000)])]
    )


def test_an_upload_is_stored_in_compressed_chunks_and_queued_on_the_worker():
    alice = listener()
    big = [extended(f"2021-01-01T00:00:{n % 60:02d}Z", n) for n in range(20_000)]

    upload = services.start_import(user=alice, files=[json_upload("big.json", big)])

    [record] = upload.upload_files.all()
    chunks = [len(chunk.data) for chunk in record.chunks.order_by("seq")]
    assert record.size > 5 * 1024 * 1024
    assert sum(chunks) < record.size / 5
    assert max(chunks) <= 1024 * 1024
    task = DBTaskResult.objects.get(task_path=import_history.module_path)
    assert task.args_kwargs["args"] == [str(upload.pk)]
    assert Import.objects.get(pk=upload.pk).task_id == str(task.id)


def test_a_cancelled_import_is_never_run_and_its_upload_is_deleted():
    alice = listener()
    upload = _queued(alice)

    assert services.cancel_import(upload) is True
    assert import_history.call(str(upload.pk)) == "not queued"

    upload.refresh_from_db()
    assert upload.state == Import.State.CANCELLED
    assert upload.finished_at is not None
    assert not upload.upload_files.exists()
    assert not Entry.objects.exists()
    assert services.cancel_import(upload) is False


def test_deleting_history_deletes_only_that_listeners_entries_names_and_imports():
    alice, bob = listener("alice"), listener("bob")
    run_import(alice, json_upload("e.json", [extended("2021-01-01T00:00:00Z", 1000)]))
    run_import(bob, json_upload("e.json", [extended("2021-01-01T00:00:00Z", 1000)]))
    _queued(alice)

    precompute.rebuild(alice.pk)
    precompute.rebuild(bob.pk)
    assert PrecomputedSummary.objects.filter(user=alice).exists()

    counts = services.delete_history(alice)

    assert counts == {"entries": 1, "imports": 2}
    assert not Import.objects.filter(user=alice).exists()
    assert not Entry.objects.filter(user=alice).exists()
    assert not Item.objects.filter(user=alice).exists()
    assert not PrecomputedSummary.objects.filter(user=alice).exists()
    assert Entry.objects.filter(user=bob).count() == 1
    assert PrecomputedSummary.objects.filter(user=bob).exists()
    assert Import.objects.filter(user=bob).count() == 1


def test_the_sweeper_requeues_a_running_import_whose_heartbeat_is_stale():
    alice = listener()
    upload = _queued(alice)
    Import.objects.filter(pk=upload.pk).update(
        state=Import.State.RUNNING, attempt=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )

    assert services.sweep_stale_imports() == [upload.pk]

    assert import_history.call(str(upload.pk)) == "done"
    upload.refresh_from_db()
    assert (upload.state, upload.attempt, upload.added) == ("done", 2, 1)


def test_sweep_imports_at_worker_start_queues_one_periodic_sweep():
    out = StringIO()
    call_command("sweep_imports", stdout=out)
    call_command("sweep_imports", stdout=StringIO())

    assert "Re-queued 0 imports." in out.getvalue()
    sweeps = DBTaskResult.objects.filter(task_path=sweep_imports.module_path)
    assert sweeps.count() == 1
    assert sweeps.get().run_after > timezone.now()


def test_an_import_waits_queued_while_another_session_holds_the_listeners_lock():
    alice = listener()
    upload = _queued(alice)
    DBTaskResult.objects.all().delete()

    with server_connection(connection.settings_dict["NAME"]) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [importer.LOCK_CLASS, alice.pk])
        outcome = import_history.call(str(upload.pk))
        # Released now: closing the connection releases it only when the server gets to it,
        # which under load can be after the next call below.
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [importer.LOCK_CLASS, alice.pk])

    assert outcome == "busy"
    assert Import.objects.get(pk=upload.pk).state == Import.State.QUEUED
    retry = DBTaskResult.objects.get(task_path=import_history.module_path)
    assert retry.run_after > timezone.now()
    assert import_history.call(str(upload.pk)) == "done"
