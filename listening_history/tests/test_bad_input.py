"""Hostile and broken uploads: a clear message, nothing lost, the worker survives."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from listening_history.models import Entry, Import
from listening_history.tests.helpers import (
    account,
    extended,
    json_upload,
    listener,
    run_import,
    zip_bytes,
    zip_upload,
)

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = "Spotify Extended Streaming History/Streaming_History_Audio_2024_0.json"


@pytest.fixture
def alice_with_history():
    alice = listener()
    first = run_import(alice, json_upload("e.json", [extended("2020-01-01T00:00:00Z", 5000)]))
    assert first.added == 1
    return alice


def _assert_failed_cleanly(upload, alice, message):
    assert upload.state == Import.State.FAILED
    assert any(message in error for error in upload.errors), upload.errors
    assert Entry.objects.filter(user=alice).count() == 1  # the earlier import is untouched
    assert not upload.upload_files.exists()


def test_a_zip_that_inflates_past_the_limit_is_refused(alice_with_history, settings):
    settings.HISTORY_MAX_UNCOMPRESSED_MB = 1
    # 3 MB of spaces inside a valid list deflate to a few kilobytes.
    bomb = (
        b"["
        + b" " * (3 * 1024 * 1024)
        + json.dumps(extended("2021-01-01T00:00:00Z", 1)).encode()
        + b"]"
    )

    upload = run_import(alice_with_history, zip_upload("bomb.zip", {HISTORY: bomb}))

    _assert_failed_cleanly(upload, alice_with_history, "would inflate past 1 MB")


def test_a_zip_whose_declared_sizes_lie_is_still_counted(alice_with_history, settings):
    settings.HISTORY_MAX_UNCOMPRESSED_MB = 1
    data = bytearray(zip_bytes({HISTORY: b"[" + b" " * (3 * 1024 * 1024) + b"]"}))
    # Claim 10 bytes uncompressed in the central directory's record.
    directory = data.rfind(b"PK\x01\x02")
    data[directory + 24 : directory + 28] = (10).to_bytes(4, "little")
    liar = SimpleUploadedFile("liar.zip", bytes(data))

    upload = run_import(alice_with_history, liar)

    assert upload.state == Import.State.FAILED
    assert Entry.objects.filter(user=alice_with_history).count() == 1


def test_an_empty_zip_says_it_holds_no_history(alice_with_history):
    upload = run_import(alice_with_history, zip_upload("empty.zip", {}))

    _assert_failed_cleanly(upload, alice_with_history, "empty.zip holds no streaming history")


def test_a_zip_without_history_names_what_it_holds(alice_with_history):
    upload = run_import(
        alice_with_history,
        zip_upload(
            "my_spotify_data.zip",
            {"MyData/Userdata.json": {"username": "x"}, "MyData/Playlist1.json": {"a": []}},
        ),
    )

    _assert_failed_cleanly(upload, alice_with_history, "holds no streaming history")
    assert "Userdata.json" in upload.errors[0]


def test_a_truncated_zip_is_a_message(alice_with_history):
    data = zip_bytes({HISTORY: [extended("2021-01-01T00:00:00Z", 1)] * 100})
    upload = run_import(alice_with_history, SimpleUploadedFile("cut.zip", data[: len(data) // 2]))

    _assert_failed_cleanly(upload, alice_with_history, "cut.zip is not a complete ZIP file")


def test_a_pdf_named_json_is_a_message(alice_with_history):
    upload = run_import(alice_with_history, json_upload("history.json", b"%PDF-1.7\n%\xe2\xe3\n"))

    _assert_failed_cleanly(upload, alice_with_history, "history.json is not JSON")


def test_a_json_object_holds_no_streaming_history(alice_with_history):
    upload = run_import(alice_with_history, json_upload("Userdata.json", {"username": "x"}))

    _assert_failed_cleanly(upload, alice_with_history, "Userdata.json holds no streaming history")


def test_json_nested_100000_deep_is_a_message(alice_with_history):
    deep = b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"

    upload = run_import(alice_with_history, json_upload("deep.json", deep))

    _assert_failed_cleanly(upload, alice_with_history, "deep.json")


def test_a_list_of_other_things_holds_no_streaming_history(alice_with_history):
    searches = [{"searchTime": "2024-01-01", "searchQuery": "x"}]

    upload = run_import(alice_with_history, json_upload("SearchQueries.json", searches))

    _assert_failed_cleanly(upload, alice_with_history, "holds no streaming history")


def test_a_file_that_fails_beside_good_ones_leaves_the_import_done():
    alice = listener()
    cut = json.dumps([extended("2021-01-01T00:00:00Z", 1)] * 3).encode()[:-20]

    upload = run_import(
        alice,
        json_upload("good.json", [extended("2021-01-01T00:00:00Z", 1000)]),
        json_upload("cut.json", cut),
        zip_upload(
            "account.zip",
            {
                "Spotify Account Data/StreamingHistory_music_0.json": [
                    account("2022-12-05 16:52", 1000)
                ],
                "Spotify Account Data/StreamingHistory_podcast_0.json": [
                    {
                        "endTime": "2022-12-05 17:52:30",
                        "podcastName": "P",
                        "episodeName": "E",
                        "msPlayed": 9,
                    }
                ],
                "Spotify Account Data/ReadMeFirst.pdf": b"%PDF",
            },
        ),
    )

    assert upload.state == Import.State.DONE
    assert upload.files == 3
    assert upload.added == 3
    assert upload.errors == ["cut.json is not valid JSON (cut short?)"]


def test_a_byte_order_mark_and_old_file_names_are_fine():
    alice = listener()
    data = "\ufeff".encode() + json.dumps([extended("2015-06-01 10:00:00", 2000)]).encode()

    upload = run_import(alice, zip_upload("old.zip", {"MyData/endsong_0.json": data}))

    assert (upload.state, upload.added) == (Import.State.DONE, 1)


def test_private_keys_are_never_stored():
    alice = listener()
    run_import(alice, json_upload("e.json", [extended("2021-01-01T00:00:00Z", 1000)]))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(t::text, ' ') FROM ("
            " SELECT row_to_json(x)::text AS t FROM listening_history_item x"
            " UNION ALL SELECT row_to_json(y)::text FROM listening_history_term y"
            " UNION ALL SELECT row_to_json(z)::text FROM listening_history_entry z) rows"
        )
        everything = cursor.fetchone()[0]
    assert "private" not in everything
    assert "192.0.2" not in everything
    assert "1709316251" not in everything
