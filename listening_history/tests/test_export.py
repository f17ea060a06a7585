"""GET /history/export.csv and /history/export.json: every stored entry of the listener, streamed,
in the issue's columns and order, and a JSON that imports back into the same history."""

import csv
import io
import json
import re

import pytest
from django.test import Client

from listening_history import export, reader, services
from listening_history.tests.helpers import account, extended, json_upload, listener, run_import

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = (
    "ts,ms_played,kind,track_name,artist_name,album_name,spotify_track_uri,episode_name,"
    "show_name,spotify_episode_uri,audiobook_title,audiobook_chapter_title,"
    "spotify_audiobook_uri,spotify_audiobook_chapter_uri,reason_start,reason_end,shuffle,"
    "skipped,offline,incognito_mode,platform,conn_country,source\r\n"
)
PERSONAL_KEYS = {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username"}


def _browser(user):
    client = Client(headers={"X-Forwarded-Proto": "https"})
    client.force_login(user)
    return client


def _download(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.streaming
    return response, b"".join(response.streaming_content)


def _csv(client):
    return _download(client, "/history/export.csv")[1]


def _json(client):
    return _download(client, "/history/export.json")[1]


def _rows(body):
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def _episode(ts, ms, episode="An Episode", show="A Show", uri="spotify:episode:e1", **extra):
    return extended(
        ts,
        ms,
        track=None,
        artist=None,
        album=None,
        uri=None,
        spotify_track_uri=None,
        episode_name=episode,
        episode_show_name=show,
        spotify_episode_uri=uri,
        **extra,
    )


def _chapter(ts, ms, chapter="Chapter 1", uri="spotify:episode:c1", **extra):
    return extended(
        ts,
        ms,
        track=None,
        artist=None,
        album=None,
        spotify_track_uri=None,
        audiobook_title="A Book",
        audiobook_uri="spotify:audiobook:b1",
        audiobook_chapter_title=chapter,
        audiobook_chapter_uri=uri,
        **extra,
    )


def _unknown(ts, ms, **extra):
    return extended(ts, ms, track=None, artist=None, album=None, spotify_track_uri=None, **extra)


def _extended_history():
    """Tracks, an episode, an audiobook chapter and an unknown stream, with ties on ts."""
    return [
        extended("2024-03-02T08:00:00Z", 200000, track="Late", uri="spotify:track:late"),
        # Four entries end at the same second: ms_played first, then the URI, then no URI.
        _unknown("2024-03-01T10:00:00Z", 5000, platform=None, reason_start=None),
        extended("2024-03-01T10:00:00Z", 5000, track="Lower", uri="spotify:track:a", shuffle=True),
        extended("2024-03-01T10:00:00Z", 5000, track="Upper", uri="spotify:track:B", skipped=True),
        extended("2024-03-01T10:00:00Z", 1000, track="Short", uri="spotify:track:z"),
        _episode("2024-02-01T07:30:15Z", 1800000, offline=True, incognito_mode=True),
        _chapter("2024-02-15T21:00:01Z", 600000),
        # The old time format, still an extended entry.
        extended("2019-05-01 10:23:45", 31000, track="Old", uri="spotify:track:old"),
    ]


def test_the_csv_is_every_entry_in_order_with_the_issues_columns():
    alice = listener()
    run_import(alice, json_upload("Streaming_History_Audio_2024.json", _extended_history()))

    response, body = _download(_browser(alice), "/history/export.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="euterpe_listening_history_\d{4}-\d{2}-\d{2}\.csv"',
        response["Content-Disposition"],
    )
    assert not body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8")
    assert text.startswith(HEADER)
    assert text.count("\r\n") == 9 and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[1:-1] == [
        "2019-05-01T10:23:45Z,31000,track,Old,Band,Record,spotify:track:old,,,,,,,,"
        "trackdone,trackdone,false,,false,false,Android OS 14,SE,extended",
        "2024-02-01T07:30:15Z,1800000,episode,,,,,An Episode,A Show,spotify:episode:e1,,,,,"
        "trackdone,trackdone,false,,true,true,Android OS 14,SE,extended",
        "2024-02-15T21:00:01Z,600000,audiobook,,,,,,,,A Book,Chapter 1,spotify:audiobook:b1,"
        "spotify:episode:c1,trackdone,trackdone,false,,false,false,Android OS 14,SE,extended",
        "2024-03-01T10:00:00Z,1000,track,Short,Band,Record,spotify:track:z,,,,,,,,"
        "trackdone,trackdone,false,,false,false,Android OS 14,SE,extended",
        # Code-point order: "B" (U+0042) before "a" (U+0061), whatever the database's collation.
        "2024-03-01T10:00:00Z,5000,track,Upper,Band,Record,spotify:track:B,,,,,,,,"
        "trackdone,trackdone,false,true,false,false,Android OS 14,SE,extended",
        "2024-03-01T10:00:00Z,5000,track,Lower,Band,Record,spotify:track:a,,,,,,,,"
        "trackdone,trackdone,true,,false,false,Android OS 14,SE,extended",
        "2024-03-01T10:00:00Z,5000,unknown,,,,,,,,,,,,,trackdone,false,,false,false,,SE,extended",
        "2024-03-02T08:00:00Z,200000,track,Late,Band,Record,spotify:track:late,,,,,,,,"
        "trackdone,trackdone,false,,false,false,Android OS 14,SE,extended",
    ]
    assert lines[-1] == ""


def test_account_data_exports_with_the_seconds_it_has_and_empty_unknowns():
    bob = listener("bob")
    run_import(
        bob,
        json_upload(
            "StreamingHistory_music_0.json",
            [account("2022-12-05 16:52", 185000, artist="Band", track="Song")],
        ),
        json_upload(
            "StreamingHistory_podcast_0.json",
            [
                {
                    "endTime": "2022-12-04 07:01",
                    "podcastName": "A Show",
                    "episodeName": "An Episode",
                    "msPlayed": 900000,
                }
            ],
        ),
    )

    assert _csv(_browser(bob)).decode() == HEADER + (
        "2022-12-04T07:01:00Z,900000,episode,,,,,An Episode,A Show,,,,,,,,,,,,,,account_data\r\n"
        "2022-12-05T16:52:00Z,185000,track,Song,Band,,,,,,,,,,,,,,,,,,account_data\r\n"
    )
    entries = json.loads(_json(_browser(bob)))
    assert [entry["ts"] for entry in entries] == ["2022-12-04T07:01:00Z", "2022-12-05T16:52:00Z"]
    assert entries[1]["master_metadata_track_name"] == "Song"
    assert entries[1]["master_metadata_album_artist_name"] == "Band"
    assert entries[1]["master_metadata_album_album_name"] is None
    assert entries[0]["episode_show_name"] == "A Show"


def test_names_with_unicode_commas_quotes_and_newlines_survive_both_formats():
    carol = listener("carol")
    odd = 'Ünïcödé, "quoted"\r\nsecond line 🎵'
    run_import(
        carol,
        json_upload(
            "Streaming_History_Audio_2024.json",
            [
                extended("2024-01-01T00:00:00Z", 40000, track=odd, artist="Ké,sha", album='a"b'),
                extended("2024-01-01T00:00:01Z", 40000, track="", artist="Plain", uri=""),
            ],
        ),
    )
    client = _browser(carol)

    body = _csv(client)
    assert '"Ünïcödé, ""quoted""\r\nsecond line 🎵","Ké,sha","a""b"'.encode() in body
    rows = _rows(body)
    assert rows[1][3:6] == [odd, "Ké,sha", 'a"b']
    assert rows[2][3:7] == ["", "Plain", "Record", ""]
    entries = json.loads(_json(client).decode("utf-8"))
    assert entries[0]["master_metadata_track_name"] == odd
    # JSON keeps an empty name apart from a missing one.
    assert entries[1]["master_metadata_track_name"] == ""
    assert entries[1]["spotify_track_uri"] == ""
    assert entries[1]["episode_name"] is None


def test_the_json_uses_spotifys_keys_without_the_personal_ones():
    alice = listener()
    run_import(alice, json_upload("Streaming_History_Audio_2024.json", _extended_history()))

    response, body = _download(_browser(alice), "/history/export.json")

    assert response["Content-Type"] == "application/json"
    assert re.fullmatch(
        r'attachment; filename="Streaming_History_Audio_Euterpe_\d{4}-\d{2}-\d{2}\.json"',
        response["Content-Disposition"],
    )
    assert b"private" not in body and b"192.0.2" not in body
    entries = json.loads(body)
    assert len(entries) == 8
    for entry in entries:
        assert tuple(entry) == export.JSON_KEYS
        assert not PERSONAL_KEYS & set(entry)
        assert entry["offline_timestamp"] is None
    chapter = entries[2]
    assert chapter == {
        "ts": "2024-02-15T21:00:01Z",
        "platform": "Android OS 14",
        "ms_played": 600000,
        "conn_country": "SE",
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": "A Book",
        "audiobook_uri": "spotify:audiobook:b1",
        "audiobook_chapter_uri": "spotify:episode:c1",
        "audiobook_chapter_title": "Chapter 1",
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": None,
        "offline": False,
        "offline_timestamp": None,
        "incognito_mode": False,
    }
    assert [entry["ts"] for entry in entries] == sorted(entry["ts"] for entry in entries)


def test_an_empty_history_is_a_header_and_an_empty_list():
    client = _browser(listener())

    assert _csv(client) == HEADER.encode()
    assert _json(client) == b"[]\n"
    assert json.loads(_json(client)) == []


def test_another_listeners_entries_never_appear():
    alice, bob = listener(), listener("bob")
    run_import(alice, json_upload("a.json", [extended("2024-01-01T00:00:00Z", 40000, track="A")]))
    run_import(bob, json_upload("b.json", [extended("2024-01-01T00:00:00Z", 40000, track="B")]))

    alice_csv, alice_json = _csv(_browser(alice)), json.loads(_json(_browser(alice)))

    assert [row[3] for row in _rows(alice_csv)[1:]] == ["A"]
    assert [entry["master_metadata_track_name"] for entry in alice_json] == ["A"]
    assert _rows(_csv(_browser(listener("carol")))) == [HEADER.strip().split(",")]


def test_a_stranger_is_sent_to_log_in():
    for path in ("/history/export.csv", "/history/export.json"):
        response = Client(headers={"X-Forwarded-Proto": "https"}).get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/login?next={path}"


def test_chunks_end_between_seconds_so_ties_keep_their_order():
    alice = listener()
    entries = [
        extended(f"2024-01-01T00:00:0{second}Z", ms, track=f"T{second}{ms}")
        for second in range(4)
        for ms in (30000, 10000, 20000)
    ]
    run_import(alice, json_upload("Streaming_History_Audio_2024.json", entries))

    whole = b"".join(export.csv_bytes(alice.pk))
    for size in (1, 2, 4, 5):
        assert b"".join(export.csv_bytes(alice.pk, chunk_rows=size)) == whole
        assert b"".join(export.json_bytes(alice.pk, chunk_rows=size)) == b"".join(
            export.json_bytes(alice.pk)
        )
    assert len(_rows(whole)) == 13
    assert len(json.loads(b"".join(export.json_bytes(alice.pk, chunk_rows=2)))) == 12


def _without_source(body):
    return [row[:-1] for row in _rows(body)]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            lambda: [json_upload("Streaming_History_Audio_2024.json", _extended_history())],
            id="extended",
        ),
        pytest.param(
            lambda: [
                json_upload("StreamingHistory_music_0.json", [account("2022-12-05 16:52", 9000)]),
                json_upload(
                    "StreamingHistory_podcast_0.json",
                    [
                        {
                            "endTime": "2022-12-05 17:00",
                            "podcastName": "Show",
                            "episodeName": "Ep",
                            "msPlayed": 60000,
                        }
                    ],
                ),
            ],
            id="account-data",
        ),
        pytest.param(
            lambda: [
                json_upload("Streaming_History_Audio_2024.json", _extended_history()),
                json_upload(
                    "StreamingHistory_music_0.json",
                    [account("2023-07-01 12:00", 50000, artist='Ünï, "x"', track="y\nz")],
                ),
            ],
            id="both",
        ),
    ],
)
def test_after_delete_my_history_the_json_imports_back_into_the_same_csv(files):
    alice = listener()
    run_import(alice, *files())
    client = _browser(alice)
    before = _csv(client)
    response, exported = _download(client, "/history/export.json")
    name = re.search(r'filename="([^"]+)"', response["Content-Disposition"])[1]
    assert reader.is_history_name(name)  # in a ZIP too, it is read as history

    services.delete_history(alice)
    assert _csv(client) == HEADER.encode()
    again = run_import(alice, json_upload(name, exported))

    assert again.state == "done" and again.skipped == 0 and not again.errors
    after = _csv(client)
    assert _without_source(after) == _without_source(before)
    assert {row[-1] for row in _rows(after)[1:]} == {"extended"}


def test_the_history_page_links_both_downloads():
    alice = listener()
    client = _browser(alice)
    assert "/history/export.csv" not in client.get("/history").content.decode()
    run_import(alice, json_upload("a.json", [extended("2024-01-01T00:00:00Z", 40000)]))

    page = client.get("/history").content.decode()

    for kind in ("CSV", "JSON"):
        link = f'href="/history/export.{kind.lower()}" download>Download as {kind}</a>'
        assert f'<a class="btn btn--small" {link}' in page


class _Watched(dict):
    """An export entry that remembers which keys the reader looked at."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def test_the_privacy_page_names_what_is_dropped_and_how_to_take_the_history_out():
    dropped = {*PERSONAL_KEYS, "offline_timestamp"}
    entry = _Watched(extended("2024-01-01T00:00:00Z", 40000))
    assert reader.parse_entry(entry, latest=reader.EARLIEST.replace(year=2100), memo={})
    # What the page promises is what the reader does: it never reads these keys.
    assert entry.read & dropped == set()
    assert dropped <= set(entry)

    page = Client(headers={"X-Forwarded-Proto": "https"}).get("/privacy").content.decode()

    for key in dropped:
        assert f"<code>{key}</code>" in page
    assert 'href="/history/export.csv"' in page and 'href="/history/export.json"' in page
    assert '"Delete my history"' in page and "or disconnect" in page
