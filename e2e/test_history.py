"""/history in Chromium: the empty state, a seeded history in both colour schemes at desktop and
phone widths, the time zone offer, the expandable top lists, summary.json and the downloads;
"Keep adding what I play" turned on, a round run by the worker, and turned off.

The page is watched like every other (see ``open_page``): a console error, a CSP violation or a
page without a CSP header fails the test. The screenshots land in artifacts/screenshots/; with
``EUTERPE_README_SCREENSHOTS=1`` the desktop and phone views are also written to
docs/screenshots/ (history-desktop.png, history-phone.png) for the README, so that an ordinary
run never rewrites tracked files.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from devtools.stack import BASE_DIR
from e2e.support import DESKTOP, PHONE, log_in

pytestmark = pytest.mark.e2e

README_SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
SEEDED = 3000


def seed_history(stack, name, entries):
    """devtools.history_seed in the stack's own environment (its database, its settings)."""
    result = subprocess.run(  # noqa: S603 (our own module, our arguments)
        [sys.executable, "-m", "devtools.history_seed", name, "--entries", str(entries)],
        cwd=BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def for_the_readme(path, name):
    """Copy a screenshot to docs/screenshots/ when asked (EUTERPE_README_SCREENSHOTS=1)."""
    if os.environ.get("EUTERPE_README_SCREENSHOTS"):
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, README_SCREENSHOTS / name)


def no_sideways_scroll(page, viewport):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"/history is {width}px wide at {viewport['width']}px"


def test_history_from_empty_to_seeded_in_light_and_dark_at_desktop_and_phone_widths(
    open_page, stack, screenshot
):
    page = open_page(color_scheme="light", timezone_id="Europe/Berlin")
    log_in(page, stack, "alice")

    page.goto(stack.url("/history"))
    expect(page.locator("h1")).to_contain_text("Your listening history")
    expect(page.locator("#empty-title")).to_contain_text("No listening history yet")
    expect(page.get_by_role("link", name="Import your history")).to_be_visible()
    screenshot(page, "history-empty-desktop-1280")

    assert f"{SEEDED} entries" in seed_history(stack, "alice", SEEDED)

    # The first visit offers the browser's zone (static/js/history-zone.js reads Intl).
    page.goto(stack.url("/history"))
    offer = page.locator("#zone-offer-select")
    expect(offer).to_have_value("Europe/Berlin")
    page.get_by_role("button", name="Use this time zone").click()
    page.wait_for_url(re.compile(re.escape(stack.url("/history")) + r"$"))
    expect(page.locator(".history-head")).to_contain_text("Europe/Berlin")
    expect(page.locator("#zone-offer-select")).to_have_count(0)

    # The page and summary.json tell the same numbers (one code path).
    summary = page.request.get(stack.url("/history/summary.json"))
    assert summary.status == 200
    data = summary.json()
    assert data["tz"] == "Europe/Berlin"
    assert data["from"] is None and data["to"] is None
    assert data["plays"] > 0 and len(data["clock"]) == 7
    assert all(len(day) == 24 for day in data["clock"])
    plays = page.locator("[aria-labelledby=totals-title] dt", has_text="Plays").locator(
        "xpath=../dd"
    )
    expect(plays).to_have_text(str(data["plays"]))
    first_track = data["top_tracks"][0]["name"]
    expect(page.locator("#top-tracks li").first).to_contain_text(first_track)

    # 10 shown, 25 on expand, without a reload.
    tracks = page.locator("#top-tracks")
    expect(tracks.locator("li:visible")).to_have_count(10)
    tracks.locator("summary", has_text="Show all 25 tracks").click()
    expect(tracks.locator("li:visible")).to_have_count(25)
    tracks.locator("summary", has_text="Show the first 10 only").click()
    expect(tracks.locator("li:visible")).to_have_count(10)

    # The charts are images with a name, and their numbers are there for screen readers.
    expect(page.get_by_role("heading", name="When you listen")).to_be_visible()
    expect(page.locator("svg[role=img]")).not_to_have_count(0)

    page.evaluate("window.scrollTo(0, 0)")
    for_the_readme(screenshot(page, "history-desktop-1280"), "history-desktop.png")
    no_sideways_scroll(page, DESKTOP)

    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("#top-tracks li").first).to_contain_text(first_track)
    screenshot(page, "history-desktop-1280-dark")

    # A period from the picker, then back to all time.
    years = page.get_by_role("navigation", name="Period")
    year = years.locator("a").nth(2)
    label = year.inner_text()
    year.click()
    expect(years.locator("[aria-current=page]")).to_have_text(label)
    expect(page.locator("#totals-title")).to_contain_text(label)

    # The whole history goes out too, from a link the keyboard reaches and presses.
    for kind, name in (("csv", r"euterpe_listening_history_"), ("json", r"Streaming_History_")):
        link = page.get_by_role("link", name=f"Download as {kind.upper()}")
        assert link.evaluate("a => a.tabIndex") >= 0
        link.focus()
        with page.expect_download() as started:
            page.keyboard.press("Enter")
        download = started.value
        assert re.fullmatch(rf"{name}.*\.{kind}", download.suggested_filename)
        lines = Path(download.path()).read_bytes().count(b"\n")
        assert lines == (SEEDED + 1 if kind == "csv" else SEEDED + 2)

    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    log_in(phone, stack, "alice")
    phone.goto(stack.url("/history"))
    expect(phone.locator("#top-tracks li").first).to_contain_text(first_track)
    for_the_readme(screenshot(phone, "history-phone-390"), "history-phone.png")
    no_sideways_scroll(phone, PHONE)

    phone.emulate_media(color_scheme="dark")
    phone.reload()
    expect(phone.locator("#top-tracks li").first).to_contain_text(first_track)
    screenshot(phone, "history-phone-390-dark")
    no_sideways_scroll(phone, PHONE)


def run_command(stack, *args):
    """A manage.py command in the stack's own environment (as Heroku Scheduler runs one)."""
    result = subprocess.run(  # noqa: S603 (our own command, our arguments)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_listener_turns_on_keep_adding_what_i_play_and_the_worker_adds_their_plays(
    open_page, stack
):
    page = open_page(color_scheme="dark")
    log_in(page, stack, "carol")
    page.goto(stack.url("/history"))
    card = page.locator("section[aria-labelledby=sync-title]")
    expect(card).to_contain_text("deleted after 365 days")

    card.get_by_role("button", name="Keep adding what I play").click()
    page.wait_for_url(re.compile(re.escape(stack.url("/history")) + r"$"))
    expect(card.get_by_role("button", name="Stop adding what I play")).to_be_visible()
    expect(card).to_contain_text("not yet")

    # Heroku Scheduler's job; the stack's worker runs the round (one call for carol; her
    # dashboard, where the login landed, asked for her recently played already).
    calls = stack.fake_calls("/v1/me/player/recently-played", "carol")
    assert "Sync round queued" in run_command(stack, "sync_history")
    for _ in range(240):  # up to a minute: the worker polls every 2 s
        page.reload()
        if "not yet" not in card.inner_text():
            break
        page.wait_for_timeout(250)
    expect(card).to_contain_text("It added")
    expect(page.locator("#empty-title")).to_have_count(0)
    expect(page.locator("[aria-labelledby=totals-title]")).to_contain_text("estimated")
    assert stack.fake_calls("/v1/me/player/recently-played", "carol") == calls + 1

    card.get_by_role("button", name="Stop adding what I play").click()
    expect(card.get_by_role("button", name="Keep adding what I play")).to_be_visible()
