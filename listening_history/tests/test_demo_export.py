"""The generated demo export (devtools.demo_export) and "Import a demo export" in demo mode."""

import io
import json
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from devtools import demo_export
from listening_history import reader
from listening_history.models import Entry, Import, Kind
from listening_history.tests.helpers import listener, run_import, stored
from listening_history.tests.test_worker import Worker, _wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = {"entries": 3000, "files": 3}


@pytest.fixture(scope="module")
def small():
    return demo_export.generate(**SMALL)


def _members(export):
    with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _browser(user):
    client = Client(headers={"X-Forwarded-Proto": "https"})
    client.force_login(user)
    return client


def test_the_same_arguments_give_the_same_bytes_and_another_seed_other_bytes(small):
    assert demo_export.generate(**SMALL).data == small.data
    assert demo_export.generate(**SMALL, seed=99).data != small.data


def test_it_is_laid_out_as_spotify_mails_both_kinds_of_export(small):
    names = list(_members(small))

    assert [n for n in names if n.startswith("Spotify Extended Streaming History/")] == [
        "Spotify Extended Streaming History/Streaming_History_Audio_2019-2022_0.json",
        "Spotify Extended Streaming History/Streaming_History_Audio_2022-2024_1.json",
        "Spotify Extended Streaming History/Streaming_History_Audio_2024-2026_2.json",
        "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf",
    ]
    assert [n for n in names if n.startswith("Spotify Account Data/")] == [
        "Spotify Account Data/StreamingHistory_music_0.json",
        "Spotify Account Data/StreamingHistory_podcast_0.json",
        "Spotify Account Data/Userdata.json",
    ]
    assert len(names) == len(small.members)


def test_it_holds_both_field_layouts_podcasts_an_audiobook_and_bad_entries(small):
    members = _members(small)
    extended = [
        json.loads(data) for name, data in members.items() if "Streaming_History_Audio_" in name
    ]
    entries = [entry for part in extended for entry in part]
    old, new = extended[0], extended[-1]

    assert len(entries) == small.extended_entries == SMALL["entries"]
    good_old = [e for e in old if isinstance(e, dict) and "username" in e]
    assert good_old and all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", e["ts"]) for e in good_old
    )
    assert all("audiobook_title" not in e and "ip_addr_decrypted" in e for e in good_old)
    good_new = [e for e in new if isinstance(e, dict) and "ip_addr" in e]
    assert good_new and all(e["ts"].endswith("Z") and "username" not in e for e in good_new)
    assert any(e.get("audiobook_title") for e in good_new)
    assert any(e.get("episode_show_name") for e in entries if isinstance(e, dict))
    assert (
        sum(
            1
            for e in entries
            if not isinstance(e, dict)
            or "master_metadata_track_name" not in e
            or e.get("ts") in (None, "yesterday")
        )
        >= 1
    )
    podcasts = json.loads(members["Spotify Account Data/StreamingHistory_podcast_0.json"])
    music = json.loads(members["Spotify Account Data/StreamingHistory_music_0.json"])
    assert set(podcasts[0]) == {"endTime", "podcastName", "episodeName", "msPlayed"}
    assert set(music[0]) == {"endTime", "artistName", "trackName", "msPlayed"}
    assert len(podcasts) + len(music) == small.account_entries
    assert small.kinds.keys() >= {"track", "episode", "chapter"}


def test_the_reader_skips_exactly_the_bad_entries(small, tmp_path):
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(small.data)
    files, ignored = reader.read_upload(path.name, path, reader.Budget(1 << 31))
    rows = [row for history_file in files for row in history_file.rows()]

    assert sorted(ignored) == ["ReadMeFirst_ExtendedStreamingHistory.pdf", "Userdata.json"]
    assert sum(f.stats["skipped"] for f in files) == small.bad_entries == 7
    assert len(rows) == small.extended_entries - small.bad_entries + small.account_entries


def test_importing_it_keeps_each_play_once_and_again_adds_nothing(small):
    alice = listener()

    first = run_import(alice, _upload(small))

    valid = small.extended_entries - small.bad_entries
    assert first.state == Import.State.DONE
    assert (first.files, first.skipped, first.errors) == (5, small.bad_entries, [])
    # Every account-data entry that mirrors an extended one is that play again.
    assert first.duplicates == small.overlapping
    assert first.added == valid + small.account_entries - small.overlapping
    kinds = set(Entry.objects.filter(user=alice).values_list("item__kind", flat=True))
    assert kinds == {Kind.TRACK, Kind.EPISODE, Kind.CHAPTER, Kind.UNKNOWN}
    before = stored(alice)

    again = run_import(alice, _upload(small))

    assert (again.state, again.added) == (Import.State.DONE, 0)
    assert again.duplicates == first.added + first.duplicates
    assert stored(alice) == before


def _upload(export):
    return SimpleUploadedFile("my_spotify_data.zip", export.data, "application/zip")


def test_the_import_page_offers_the_demo_export_only_in_demo_mode(settings):
    client = _browser(listener())

    settings.SPOTIFY_DEMO = False
    page = client.get("/history/import").content.decode()
    assert "Import a demo export" not in page
    assert "/history/import/demo" not in page

    settings.SPOTIFY_DEMO = True
    page = client.get("/history/import").content.decode()
    assert "Import a demo export" in page
    assert re.search(r'<form[^>]*method="post" action="/history/import/demo">', page)


def test_the_demo_export_is_refused_outside_demo_mode(settings):
    settings.SPOTIFY_DEMO = False

    response = _browser(listener()).post("/history/import/demo")

    assert response.status_code == 404
    assert not Import.objects.exists()


def test_the_demo_button_needs_a_login_a_post_and_a_csrf_token(settings, client):
    settings.SPOTIFY_DEMO = True
    alice = listener()

    assert client.post("/history/import/demo")["Location"].startswith("/login")
    assert _browser(alice).get("/history/import/demo").status_code == 405
    strict = Client(headers={"X-Forwarded-Proto": "https"}, enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/history/import/demo").status_code == 403
    assert not Import.objects.exists()


def test_the_demo_export_goes_through_the_import_of_any_upload(settings):
    settings.SPOTIFY_DEMO = True
    settings.HISTORY_IMPORT_ENABLED = False
    alice = listener()
    client = _browser(alice)

    refused = client.post("/history/import/demo")
    assert refused.status_code == 503
    assert "Imports are turned off" in refused.content.decode()

    settings.HISTORY_IMPORT_ENABLED = True
    response = client.post("/history/import/demo")

    assert response.status_code == 303
    upload = Import.objects.get(user=alice)
    assert response["Location"] == f"/history/import/{upload.pk}"
    assert upload.upload_names == ["my_spotify_data.zip"]
    assert upload.state == Import.State.QUEUED


def test_make_run_shows_a_demo_history_after_a_real_worker_imported_the_demo_export(
    settings, tmp_path
):
    """The path of `make run`: the button, `manage.py db_worker`, the history page."""
    settings.SPOTIFY_DEMO = True
    alice = listener()
    client = _browser(alice)
    status = client.post("/history/import/demo")["Location"]
    worker = Worker(tmp_path / "worker.log")
    try:
        done = _wait_for(
            lambda: (s := client.get(status + ".json").json())["state"] in ("done", "failed") and s,
            "the demo import to end",
            extra=lambda: worker.log_path.read_text(),
        )
    finally:
        worker.stop()

    export = demo_export.generate()
    assert done["state"] == "done", worker.log_path.read_text()
    assert done["skipped"] == export.bad_entries
    assert done["added"] + done["duplicates"] + done["skipped"] == (
        export.extended_entries + export.account_entries
    )
    page = client.get(status).content.decode()
    assert 'href="/history"' in page
    history = client.get("/history")
    assert history.status_code == 200
    page = history.content.decode()
    assert "No listening history yet" not in page
    assert all(show in page for show in demo_export.SHOWS)  # the top shows of all time


def test_the_command_writes_the_zip(tmp_path, capsys):
    path = tmp_path / "demo.zip"

    assert demo_export.main([str(path), "--entries", "50", "--files", "2", "--bad", "0"]) == 0

    assert zipfile.is_zipfile(path)
    assert "50 extended entries" in capsys.readouterr().out


def test_every_history_page_works_for_the_demo_history():
    alice = listener()
    assert run_import(alice, _upload(demo_export.generate())).state == Import.State.DONE
    browser = _browser(alice)

    history = browser.get("/history")
    assert history.status_code == 200
    html = history.content.decode()
    artist = re.search(r'href="(/history/artist/[0-9a-f]+)"', html).group(1)
    track = re.search(r'href="(/history/track/[0-9a-f]+)"', html).group(1)
    recaps = browser.get("/history/recap")
    assert recaps.status_code == 200
    years = sorted(set(re.findall(r'href="/history/recap/(\d{4})"', recaps.content.decode())))
    # The demo export spans 2019 to 2026.
    assert years[0] <= "2019" and years[-1] == "2026"
    paths = [artist, track, "/history/discoveries", "/history/summary.json"]
    paths += [f"/history/recap/{year}" for year in years]
    for path in paths:
        assert browser.get(path).status_code == 200, path
    for path in ("/history/export.csv", "/history/export.json"):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content), path
