"""The same export uploaded again: recognised by its bytes, with what reading it would give.

Each test compares the recognised run with a full read of the same entries (the JSON
files, whose bytes differ from the ZIP's, so they are read), on another listener.
"""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from listening_history import services
from listening_history.tests.helpers import (
    account,
    extended,
    json_upload,
    listener,
    run_import,
    stored,
)

pytestmark = pytest.mark.django_db(transaction=True)

COUNTS = ("state", "files", "entries", "added", "duplicates", "skipped", "errors")


def _members(bad=False):
    first = [extended(f"2024-01-0{d}T10:00:00Z", 200_000 + d, track=f"A{d}") for d in range(1, 8)]
    second = [extended(f"2024-02-0{d}T10:00:00Z", 90_000 + d, track=f"B{d}") for d in range(1, 8)]
    if bad:
        second.append({"ts": "yesterday", "ms_played": 1})
    return {
        "Spotify Extended Streaming History/Streaming_History_Audio_2024_0.json": first,
        "Spotify Extended Streaming History/Streaming_History_Audio_2024_1.json": second,
    }


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            # A fixed time in the ZIP: the same export is the same bytes.
            archive.writestr(zipfile.ZipInfo(name, (2026, 11, 1, 9, 0, 0)), json.dumps(content))
    return SimpleUploadedFile("my_spotify_data.zip", buffer.getvalue(), "application/zip")


def _jsons(members):
    return [json_upload(name.rsplit("/", 1)[1], content) for name, content in members.items()]


def _counts(upload):
    return {name: getattr(upload, name) for name in COUNTS}


def test_the_same_export_again_is_recognised_and_gives_what_reading_it_gives():
    alice, bob = listener("alice"), listener("bob")
    first = run_import(alice, _zip(_members()))
    run_import(bob, _zip(_members()))

    again = run_import(alice, _zip(_members()))
    read = run_import(bob, *_jsons(_members()))

    assert first.fingerprints and first.staged_files
    assert again.staged_files == []  # nothing was read
    assert read.staged_files
    assert (
        _counts(again)
        == _counts(read)
        == {
            "state": "done",
            "files": 2,
            "entries": 14,
            "added": 0,
            "duplicates": 14,
            "skipped": 0,
            "errors": [],
        }
    )
    assert stored(alice) == stored(bob)
    # Recognised again the time after.
    assert run_import(alice, _zip(_members())).staged_files == []


def test_an_export_with_skipped_entries_is_read_again():
    alice = listener()
    run_import(alice, _zip(_members(bad=True)))

    again = run_import(alice, _zip(_members(bad=True)))

    assert again.staged_files
    assert (again.added, again.duplicates, again.skipped) == (0, 14, 1)


def test_an_export_is_read_again_when_account_data_lies_near_its_entries():
    alice, bob = listener("alice"), listener("bob")
    near = account("2024-01-01 09:59", 200_001, artist="Band", track="Z")  # not the same play
    for person in (alice, bob):
        run_import(person, _zip(_members()))
        run_import(person, json_upload("StreamingHistory_music_0.json", [near]))

    again = run_import(alice, _zip(_members()))
    read = run_import(bob, *_jsons(_members()))

    assert again.staged_files
    assert _counts(again) == _counts(read)
    assert stored(alice) == stored(bob)


def test_after_delete_my_history_the_same_export_is_imported_again():
    alice = listener()
    run_import(alice, _zip(_members()))
    services.delete_history(alice)

    again = run_import(alice, _zip(_members()))

    assert again.staged_files
    assert (again.added, again.duplicates) == (14, 0)


def test_another_listeners_import_of_the_same_bytes_is_not_reused():
    run_import(listener("alice"), _zip(_members()))
    bob = listener("bob")

    first = run_import(bob, _zip(_members()))

    assert first.staged_files
    assert (first.added, first.duplicates) == (14, 0)
