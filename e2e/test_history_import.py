"""A listener imports their Spotify data export through the page, on a real worker."""

import io
import json
import re
import zipfile

import pytest
from playwright.sync_api import expect

from e2e.support import log_in

pytestmark = pytest.mark.e2e


def _export(path):
    extended = [
        {
            "ts": f"2024-03-01T18:0{n}:11Z",
            "ms_played": 180_000 + n,
            "master_metadata_track_name": f"Song {n}",
            "master_metadata_album_artist_name": "Band",
            "master_metadata_album_album_name": "Record",
            "spotify_track_uri": f"spotify:track:{n}",
            "ip_addr": "192.0.2.1",
        }
        for n in range(3)
    ]
    account = [
        {
            "endTime": "2024-03-01 18:00",
            "artistName": "Band",
            "trackName": "Song 0",
            "msPlayed": 180_000,
        },
        {
            "endTime": "2024-03-02 09:00",
            "artistName": "Band",
            "trackName": "Song 9",
            "msPlayed": 1000,
        },
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "Spotify Extended Streaming History/Streaming_History_Audio_2024_0.json",
            json.dumps(extended),
        )
        archive.writestr("Spotify Account Data/StreamingHistory_music_0.json", json.dumps(account))
        archive.writestr("Spotify Account Data/Userdata.json", json.dumps({"username": "x"}))
    path.write_bytes(buffer.getvalue())
    return path


def test_a_listener_imports_their_export_and_deletes_it_again(
    open_page, stack, tmp_path, screenshot
):
    page = open_page()
    log_in(page, stack, "bob")
    page.get_by_role("link", name="Import your listening history").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import your listening history")
    screenshot(page, "history-import-page")

    files = page.get_by_label("The ZIP from Spotify, or the JSON files inside it")
    files.set_input_files(str(_export(tmp_path / "my_spotify_data.zip")))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(r".*/history/import/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your import")

    # The page's script follows the worker until the import has ended.
    expect(page.locator("#import-state")).to_have_text("Done.", timeout=60_000)
    expect(page.locator('[data-count="files"]')).to_have_text("2")
    expect(page.locator('[data-count="added"]')).to_have_text("4")
    expect(page.locator('[data-count="duplicates"]')).to_have_text("1")
    expect(page.locator("#import-progress")).to_have_attribute("value", "1")
    screenshot(page, "history-import-done")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "history-import-done-dark")
    page.emulate_media(color_scheme="light")

    page.get_by_role("link", name="Import more files").click()
    expect(page.get_by_role("table")).to_contain_text("Done")
    page.get_by_label("Yes, delete all my listening history").check()
    page.get_by_role("button", name="Delete my history").click()
    expect(
        page.get_by_text("Your listening history is deleted: 4 entries and 1 import.")
    ).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)


def test_in_demo_mode_a_listener_imports_the_demo_export_and_sees_their_history(
    open_page, stack, screenshot
):
    """What `make run` promises a newcomer: a history within a minute of logging in."""
    page = open_page()
    log_in(page, stack, "legacy")
    page.get_by_role("link", name="Import your listening history").click()

    page.get_by_role("button", name="Import a demo export").click()
    page.wait_for_url(re.compile(r".*/history/import/[0-9a-f-]{36}$"))
    expect(page.locator("#import-state")).to_have_text("Done.", timeout=90_000)
    expect(page.locator('[data-count="files"]')).to_have_text("5")
    screenshot(page, "history-demo-import-done")

    page.get_by_role("link", name="See your history").click()
    page.wait_for_url(re.compile(r".*/history$"))
    expect(page.get_by_role("heading", name="No listening history yet")).to_have_count(0)
    expect(page.get_by_text("The Daily Loop", exact=True).first).to_be_visible()
