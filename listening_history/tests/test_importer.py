from datetime import UTC, datetime

import pytest

from listening_history.models import Entry, Import, Kind, Source
from listening_history.tests.helpers import (
    account,
    extended,
    json_upload,
    listener,
    run_import,
    stored,
    zip_upload,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_extended_file_is_imported_with_every_field_recoverable():
    alice = listener()
    entries = [
        extended("2024-03-01T18:04:11Z", 200_000, track="One", artist="Band", album="Rec"),
        extended(
            "2019-05-01 10:23:45",
            1_000,
            track=None,
            artist=None,
            album=None,
            uri=None,
            spotify_track_uri=None,
            episode_name="Ep 1",
            episode_show_name="Show",
            spotify_episode_uri="spotify:episode:1",
            skipped=1,
            shuffle=True,
        ),
    ]

    upload = run_import(alice, json_upload("anything.json", entries))

    assert upload.state == Import.State.DONE
    assert (upload.files, upload.entries, upload.added, upload.duplicates, upload.skipped) == (
        1,
        2,
        2,
        0,
        0,
    )
    rows = stored(alice)
    assert rows[0] == (
        datetime(2019, 5, 1, 10, 23, 45, tzinfo=UTC),
        1_000,
        Source.EXTENDED,
        Kind.EPISODE,
        None,
        None,
        None,
        None,
        "Ep 1",
        "Show",
        "spotify:episode:1",
        None,
        None,
        None,
        None,
        "Android OS 14",
        "SE",
        "trackdone",
        "trackdone",
        True,
        True,
        False,
        False,
    )
    assert rows[1][:8] == (
        datetime(2024, 3, 1, 18, 4, 11, tzinfo=UTC),
        200_000,
        Source.EXTENDED,
        Kind.TRACK,
        "One",
        "Band",
        "Rec",
        "spotify:track:One-Band",
    )


def test_the_same_export_twice_stores_each_entry_once():
    alice = listener()
    entries = [extended(f"2024-03-01T18:0{n}:00Z", 100_000 + n) for n in range(5)]
    run_import(alice, json_upload("Streaming_History_Audio_2024.json", entries))

    again = run_import(
        alice,
        zip_upload(
            "my_spotify_data.zip",
            {"Spotify Extended Streaming History/Streaming_History_Audio_2024.json": entries},
        ),
    )

    assert (again.entries, again.added, again.duplicates) == (5, 0, 5)
    assert Entry.objects.filter(user=alice).count() == 5


def test_account_data_after_extended_counts_as_duplicates_within_sixty_seconds():
    alice = listener()
    run_import(alice, json_upload("e.json", [extended("2022-12-05T16:52:40Z", 180_000)]))

    upload = run_import(alice, json_upload("a.json", [account("2022-12-05 16:52", 180_000)]))

    assert (upload.added, upload.duplicates) == (0, 1)
    assert [row[2] for row in stored(alice)] == [Source.EXTENDED]


def test_extended_after_account_data_replaces_it_and_counts_as_added():
    alice = listener()
    run_import(alice, json_upload("a.json", [account("2022-12-05 16:52", 180_000)]))

    upload = run_import(alice, json_upload("e.json", [extended("2022-12-05T16:52:40Z", 180_000)]))

    assert (upload.added, upload.duplicates) == (1, 0)
    assert [row[2] for row in stored(alice)] == [Source.EXTENDED]


def _ambiguous_sources():
    # A short track played three times on repeat: which account entry goes with
    # which extended entry is decided nearest first, one to one.
    extended_entries = [
        extended("2023-01-01T10:00:50Z", 30_000, track="Intro"),
        extended("2023-01-01T10:01:20Z", 30_000, track="Intro"),
        extended("2023-01-01T10:05:00Z", 30_000, track="Other"),
    ]
    account_entries = [
        account("2023-01-01 10:00", 30_000, track="Intro"),
        account("2023-01-01 10:01", 30_000, track="Intro"),
        account("2023-01-01 10:02", 30_000, track="Intro"),
        account("2023-01-01 10:05", 30_000, track="Other"),
        account("2023-01-01 10:05", 31_000, track="Other"),
    ]
    return extended_entries, account_entries


def test_the_stored_result_is_the_same_whatever_order_the_sources_arrive_in():
    extended_entries, account_entries = _ambiguous_sources()
    alice, bob, carol = listener("alice"), listener("bob"), listener("carol")

    run_import(alice, json_upload("e.json", extended_entries))
    run_import(alice, json_upload("a.json", account_entries))
    run_import(bob, json_upload("a.json", account_entries))
    run_import(bob, json_upload("e.json", extended_entries))
    together = run_import(
        carol, json_upload("a.json", account_entries), json_upload("e.json", extended_entries)
    )

    assert stored(alice) == stored(bob) == stored(carol)
    # Three extended entries, and the two account entries nothing matched.
    assert len(stored(alice)) == 5
    assert (together.added, together.duplicates) == (5, 3)


def test_names_must_be_equal_as_written_to_match():
    alice = listener()
    run_import(alice, json_upload("e.json", [extended("2022-12-05T16:52:40Z", 180_000)]))

    upload = run_import(
        alice, json_upload("a.json", [account("2022-12-05 16:52", 180_000, artist="band")])
    )

    assert (upload.added, upload.duplicates) == (1, 0)


def test_bad_entries_are_skipped_and_counted_and_the_rest_imported():
    alice = listener()
    entries = [
        extended("2024-03-01T18:04:11Z", 1000),
        "not an object",
        42,
        {"ms_played": 1000},
        extended("yesterday", 1000),
        extended("2024-03-01T18:04:11Z", -1),
        extended("2024-03-01T18:04:11Z", 24 * 3600 * 1000 + 1),
        extended("2024-03-01T18:04:11Z", 1.5),
        extended("2024-03-01T18:04:11Z", "a lot"),
        extended("2007-12-31T23:59:59Z", 1000),
        extended("2999-01-01T00:00:00Z", 1000),
        extended("2024-03-01T18:05:11Z", "2000"),
        extended("2024-03-01T18:06:11Z", 3000, master_metadata_track_name={"a": 1}),
    ]

    upload = run_import(alice, json_upload("e.json", entries))

    assert (upload.entries, upload.skipped, upload.added) == (3, 10, 3)
    assert upload.state == Import.State.DONE
