import re
import uuid

import pytest
from django.test import Client

from listening_history.models import Entry, Import
from listening_history.tasks import import_history
from listening_history.tests.helpers import extended, json_upload, listener, zip_upload

pytestmark = pytest.mark.django_db(transaction=True)

STATUS_KEYS = {
    "id",
    "state",
    "files",
    "entries",
    "added",
    "duplicates",
    "skipped",
    "errors",
    "created_at",
    "finished_at",
}


def _browser(user, **kwargs):
    client = Client(headers={"X-Forwarded-Proto": "https"}, **kwargs)
    client.force_login(user)
    return client


def _upload(client, *files):
    return client.post("/history/import", {"files": list(files)})


def test_the_history_pages_need_a_login(client):
    for path in ("/history/import", f"/history/import/{uuid.uuid4()}", "/history/delete"):
        response = client.get(path)
        assert response.status_code in (302, 405)
        if response.status_code == 302:
            assert response["Location"].startswith("/login")


def test_the_import_page_explains_the_export_and_has_the_upload_form():
    page = _browser(listener()).get("/history/import").content.decode()

    assert '<h1 id="import-title">Import your listening history</h1>' in page
    assert "Extended streaming history" in page and "Account data" in page
    assert 'enctype="multipart/form-data"' in page
    assert re.search(
        r'<input id="history-files" type="file" name="files" multiple accept="\.zip,\.json', page
    )
    assert '<label for="history-files">' in page
    assert "csrfmiddlewaretoken" in page
    assert "Delete my history" in page


def test_an_upload_answers_303_to_its_page_whose_json_follows_the_import_to_done():
    alice = listener()
    client = _browser(alice)

    response = _upload(
        client,
        zip_upload(
            "my_spotify_data.zip",
            {"MyData/Streaming_History_Audio_2024.json": [extended("2024-03-01T18:04:11Z", 9000)]},
        ),
    )

    assert response.status_code == 303
    match = re.fullmatch(r"/history/import/([0-9a-f-]{36})", response["Location"])
    assert match
    page = client.get(response["Location"]).content.decode()
    assert '<progress id="import-progress" max="1">' in page
    assert '<label class="progress-label" for="import-progress"' in page
    assert 'id="check-again"' in page
    assert "history-import.js" in page
    assert 'http-equiv="refresh"' not in page

    queued = client.get(response["Location"] + ".json").json()
    assert set(queued) == STATUS_KEYS
    assert (queued["state"], queued["finished_at"]) == ("queued", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", queued["created_at"])

    import_history.call(match.group(1))

    done = client.get(response["Location"] + ".json").json()
    assert {
        k: done[k]
        for k in ("state", "files", "entries", "added", "duplicates", "skipped", "errors")
    } == {
        "state": "done",
        "files": 1,
        "entries": 1,
        "added": 1,
        "duplicates": 0,
        "skipped": 0,
        "errors": [],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", done["finished_at"])
    page = client.get(response["Location"]).content.decode()
    assert "Done." in page and "Import more files" in page
    assert 'id="check-again"' not in page


def test_another_listeners_import_is_a_404():
    alice, bob = listener("alice"), listener("bob")
    response = _upload(
        _browser(alice), json_upload("e.json", [extended("2024-03-01T18:04:11Z", 1)])
    )
    path = response["Location"]
    bob_client = _browser(bob)

    assert bob_client.get(path).status_code == 404
    assert bob_client.get(path + ".json").status_code == 404
    assert bob_client.post(path + "/cancel").status_code == 404
    assert Import.objects.get().state == Import.State.QUEUED


def test_an_upload_over_the_limit_is_refused_by_content_length_before_the_body_is_read(settings):
    settings.HISTORY_MAX_UPLOAD_MB = 1
    client = _browser(listener())

    # The body is a few bytes; reading past them would raise in the test client.
    response = client.post(
        "/history/import",
        data=b"x",
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(2 * 1024 * 1024),
    )

    assert response.status_code == 413
    assert "That upload is too large" in response.content.decode()
    assert "up to 1 MB" in response.content.decode()
    assert not Import.objects.exists()


def test_an_upload_without_files_is_a_message():
    response = _browser(listener()).post("/history/import", {})

    assert response.status_code == 400
    assert "Choose at least one file" in response.content.decode()


def test_imports_turned_off_show_no_form_and_refuse_uploads(settings):
    settings.HISTORY_IMPORT_ENABLED = False
    client = _browser(listener())

    assert "Imports are turned off" in client.get("/history/import").content.decode()
    response = _upload(client, json_upload("e.json", [extended("2024-03-01T18:04:11Z", 1)]))
    assert response.status_code == 503
    assert not Import.objects.exists()


def test_a_queued_import_can_be_cancelled_from_its_page():
    client = _browser(listener())
    path = _upload(client, json_upload("e.json", [extended("2024-03-01T18:04:11Z", 1)]))["Location"]

    response = client.post(path + "/cancel")

    assert response.status_code == 302
    assert client.get(path + ".json").json()["state"] == "cancelled"
    assert "Cancelled." in client.get(path).content.decode()


def test_delete_my_history_needs_the_confirmation_and_a_csrf_token():
    alice = listener()
    client = _browser(alice)
    path = _upload(client, json_upload("e.json", [extended("2024-03-01T18:04:11Z", 1)]))["Location"]
    import_history.call(path.rsplit("/", 1)[1])
    assert Entry.objects.filter(user=alice).count() == 1

    strict = _browser(alice, enforce_csrf_checks=True)
    assert strict.post("/history/delete", {"confirm": "yes"}).status_code == 403
    client.post("/history/delete", {})
    assert Entry.objects.filter(user=alice).count() == 1

    response = client.post("/history/delete", {"confirm": "yes"}, follow=True)

    assert Entry.objects.filter(user=alice).count() == 0
    assert not Import.objects.filter(user=alice).exists()
    assert "Your listening history is deleted: 1 entry and 1 import." in response.content.decode()


def test_the_dashboard_links_to_the_import_page(client, fake_spotify):
    from accounts.tests.helpers import log_in

    log_in(client, "alice")

    assert 'href="/history/import"' in client.get("/").content.decode()
