"""Discoveries, the yearly recap and its share link in Chromium.

The recap is visited at 1280 and 390 px in light and dark (the Watch also runs axe-core on
every page at both widths in both schemes); the share link is opened by a logged-out browser,
then revoked. Screenshots land in artifacts/screenshots/; with ``EUTERPE_README_SCREENSHOTS=1``
the phone's first screen of the recap is also written to docs/screenshots/recap-phone.png for
the README.
"""

import os
import re
import shutil
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from devtools.stack import BASE_DIR
from e2e.support import DESKTOP, PHONE, log_in
from e2e.test_history import no_sideways_scroll, seed_history

pytestmark = pytest.mark.e2e

LISTENER = "nameless"
README_SCREENSHOT = BASE_DIR / "docs" / "screenshots" / "recap-phone.png"


def test_discoveries_a_recap_in_both_schemes_and_widths_and_a_share_link_seen_logged_out(
    open_page, stack, screenshot
):
    page = open_page(color_scheme="light")
    log_in(page, stack, LISTENER)
    assert "3000 entries" in seed_history(stack, LISTENER, 3000)
    year = datetime.now(UTC).year - 1

    # /history links the year list, which links every year with plays.
    page.goto(stack.url("/history"))
    page.get_by_role("link", name="Your years in music").click()
    expect(page.locator("h1")).to_have_text("Your years in music")
    page.get_by_role("link", name=str(year), exact=True).click()
    page.wait_for_url(stack.url(f"/history/recap/{year}"))
    expect(page.locator("#recap-title")).to_have_text(str(year))
    expect(page.locator(".recap__minutes strong")).to_have_text(re.compile(r"^[\d,]+$"))
    expect(page.locator("#recap-tracks li")).to_have_count(5)
    expect(page.locator("#recap-artists li")).to_have_count(5)
    expect(page.locator("svg#recap-clock[role=img]")).to_be_visible()
    screenshot(page, "recap-desktop-1280")
    no_sideways_scroll(page, DESKTOP)
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("#recap-title")).to_have_text(str(year))
    screenshot(page, "recap-desktop-1280-dark")

    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    log_in(phone, stack, LISTENER)
    phone.goto(stack.url(f"/history/recap/{year}"))
    expect(phone.locator("#recap-title")).to_have_text(str(year))
    path = screenshot(phone, "recap-phone-390")
    no_sideways_scroll(phone, PHONE)
    if os.environ.get("EUTERPE_README_SCREENSHOTS"):
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path.with_name("recap-phone-390-top.png"), README_SCREENSHOT)
    phone.emulate_media(color_scheme="dark")
    phone.reload()
    expect(phone.locator("#recap-title")).to_have_text(str(year))
    screenshot(phone, "recap-phone-390-dark")
    no_sideways_scroll(phone, PHONE)

    # A year without plays: the friendly 404 lists the years that have them.
    response = page.goto(stack.url("/history/recap/1999"))
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Nothing played in 1999")
    expect(page.get_by_role("link", name=str(year), exact=True)).to_be_visible()

    # Discoveries: streaks, forgotten favourites, new artists per year.
    page.goto(stack.url("/history/discoveries"))
    expect(page.get_by_role("heading", name="Streaks")).to_be_visible()
    expect(page.get_by_role("heading", name="New artists per year")).to_be_visible()
    expect(page.get_by_role("heading", name="Forgotten favourites")).to_be_visible()
    screenshot(page, "discoveries-desktop-1280-dark")

    # Share the recap under a chosen name; a logged-out browser sees it, and nothing else.
    page.goto(stack.url(f"/history/recap/{year}"))
    page.get_by_label("Name to show").fill("Night Owl")
    page.get_by_role("button", name="Create a share link").click()
    link = page.locator(".share-link a")
    expect(link).to_be_visible()
    shared_url = link.get_attribute("href")
    assert re.fullmatch(r"https://[^/]+/shared/recap/[A-Za-z0-9_-]{43}", shared_url)

    stranger = open_page(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    response = stranger.goto(shared_url)
    assert response.status == 200
    assert "noindex" in response.headers["x-robots-tag"]
    kicker = "Night Owl\N{RIGHT SINGLE QUOTATION MARK}s year in music"
    expect(stranger.locator(".recap__kicker")).to_have_text(kicker)
    expect(stranger.locator("#recap-tracks li")).to_have_count(5)
    expect(stranger.get_by_role("button", name="Log out")).to_have_count(0)
    expect(stranger.locator("a[href^='/history']")).to_have_count(0)
    expect(stranger.locator("form")).to_have_count(0)
    assert LISTENER not in stranger.content()
    no_sideways_scroll(stranger, PHONE)
    screenshot(stranger, "recap-shared-phone-390-dark")

    # Revoked: the same link is a 404 at once.
    page.get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("button", name="Create a share link")).to_be_visible()
    response = stranger.goto(shared_url)
    assert response.status == 404
