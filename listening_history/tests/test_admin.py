from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from listening_history import services
from listening_history.models import Import
from listening_history.tests.helpers import extended, json_upload, listener

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", password="correct horse battery")
    client.force_login(user)
    return client


def _queued(user):
    return services.start_import(
        user=user, files=[json_upload("e.json", [extended("2021-01-01T00:00:00Z", 1000)])]
    )


def test_the_admin_lists_imports_and_a_stuck_one_stands_out(operator):
    alice = listener()
    upload = _queued(alice)
    Import.objects.filter(pk=upload.pk).update(
        state="running", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )

    page = operator.get("/admin/listening_history/import/").content.decode()

    assert "alice" in page
    assert "Stuck" in page
    assert 'alt="True"' in page  # the stuck mark
    assert "Heartbeat at" in page


def test_the_admin_cancels_and_retries_imports(operator):
    alice = listener()
    stuck, other = _queued(alice), _queued(alice)
    Import.objects.filter(pk=stuck.pk).update(state="running", attempt=1)

    operator.post(
        "/admin/listening_history/import/",
        {"action": "retry_imports", "_selected_action": [str(stuck.pk)]},
    )
    operator.post(
        "/admin/listening_history/import/",
        {"action": "cancel_imports", "_selected_action": [str(other.pk)]},
    )

    assert Import.objects.get(pk=stuck.pk).state == "queued"
    assert Import.objects.get(pk=other.pk).state == "cancelled"
    response = operator.post(
        "/admin/listening_history/import/",
        {"action": "retry_imports", "_selected_action": [str(other.pk)]},
        follow=True,
    )
    assert "Finished imports were left alone" in response.content.decode()
    assert Import.objects.get(pk=other.pk).state == "cancelled"


def test_the_admin_deletes_an_import(operator):
    upload = _queued(listener())

    operator.post(f"/admin/listening_history/import/{upload.pk}/delete/", {"post": "yes"})

    assert not Import.objects.exists()


def test_the_procfile_runs_the_sweeper_then_db_worker():
    from devtools.stack import procfile

    worker = procfile()["worker"]
    assert worker.startswith("python manage.py sweep_imports && ")
    assert "manage.py db_worker" in worker
