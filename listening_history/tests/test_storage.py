"""The shared database's size limit: the history budget, and what dbcheck says about it."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from listening_history import importer, services
from listening_history.models import Entry, Import
from listening_history.tests.helpers import extended, json_upload, listener, run_import

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


def _entries(count, day="2021-01-01"):
    return [
        extended(f"{day}T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z", 1000)
        for n in range(count)
    ]


def test_an_import_that_would_pass_the_budget_is_refused_with_a_message(settings):
    alice = listener()
    run_import(alice, json_upload("first.json", _entries(10)))
    # Room for the next 100 entries, not for 1,000.
    settings.HISTORY_STORAGE_BUDGET_MB = (
        importer.history_bytes() + 100 * importer.ENTRY_BYTES
    ) / MB

    upload = run_import(alice, json_upload("big.json", _entries(1000, day="2022-01-01")))

    assert upload.state == Import.State.FAILED
    assert "would pass the storage Euterpe may use for listening history" in upload.errors[-1]
    assert Entry.objects.filter(user=alice).count() == 10
    assert not upload.upload_files.exists()


def test_no_upload_is_taken_once_history_fills_the_budget(settings):
    alice = listener()
    settings.HISTORY_STORAGE_BUDGET_MB = importer.history_bytes() / MB

    with pytest.raises(services.ImportRefused, match="no room for more listening history"):
        services.start_import(user=alice, files=[json_upload("e.json", _entries(1))])
    assert not Import.objects.exists()


def test_dbcheck_reports_the_sizes_and_warns_at_eighty_percent_of_the_budget(settings):
    out = StringIO()
    call_command("dbcheck", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["schema_size_bytes"] > 0
    assert report["database_size_bytes"] >= report["schema_size_bytes"]
    assert 0 < report["history_size_bytes"] <= report["schema_size_bytes"]
    assert report["history_budget_bytes"] == 400 * MB
    assert report["warnings"] == []

    settings.HISTORY_STORAGE_BUDGET_MB = report["history_size_bytes"] / 0.85 / MB
    out = StringIO()
    call_command("dbcheck", stdout=out)

    assert "WARNING: Listening history takes" in out.getvalue()
    assert "85% of HISTORY_STORAGE_BUDGET_MB" in out.getvalue()
    assert "Database is healthy." in out.getvalue()


def test_db_check_endpoint_carries_the_sizes(client, settings):
    response = client.get("/db_check", headers={"Authorization": f"Bearer {settings.OPS_TOKEN}"})

    assert response.status_code == 200
    assert {"schema_size_bytes", "database_size_bytes", "history_size_bytes", "warnings"} <= set(
        response.json()
    )
