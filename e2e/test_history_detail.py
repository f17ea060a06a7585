"""An artist's and a track's page in Chromium, reached from /history by keyboard and by click.

The listener's artists are renamed to something hostile first (a slash, ``%``, ``?``, ``#``,
HTML, unicode and a 200-letter word), so the links and pages are exercised with names that
break naive URLs and narrow screens. The watch checks every page visited: console, CSP, and
axe-core in both colour schemes at both widths.
"""

import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from devtools.stack import BASE_DIR
from e2e.support import PHONE, log_in
from e2e.test_history import no_sideways_scroll, seed_history

pytestmark = pytest.mark.e2e

PREFIX = "<b>AC/DC</b> 100% #1? Zoë 坂本 " + "W" * 200 + " · "
RENAME = """
import sys

import django

django.setup()
from django.db.models import Q, Value
from django.db.models.functions import Concat

from listening_history.models import Artist

name, prefix = sys.argv[1:]
mine = Q(user__username__icontains=name) | Q(user__first_name__icontains=name)
Artist.objects.filter(mine).update(name=Concat(Value(prefix), "name"))
"""


def rename_artists(stack, name):
    """Every artist of the listener ``name`` gets PREFIX before its name (before any page
    of theirs is computed: a renamed artist is a different artist)."""
    result = subprocess.run(  # noqa: S603 (our own code, our arguments)
        [sys.executable, "-c", RENAME, name, PREFIX],
        cwd=BASE_DIR,
        env={**stack.env, "DJANGO_SETTINGS_MODULE": "euterpe_site.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_artist_and_a_track_page_from_history_by_keyboard_and_click(
    open_page, stack, screenshot
):
    page = open_page(color_scheme="light")
    log_in(page, stack, "nameless")
    assert "2000 entries" in seed_history(stack, "nameless", 2000)
    rename_artists(stack, "nameless")

    page.goto(stack.url("/history"))
    artists = page.locator("#top-artists")
    first_artist = artists.locator("a.item__title").first
    name = first_artist.inner_text()
    assert name.startswith("<b>AC/DC</b> 100% #1? Zoë 坂本 WWW")
    expect(first_artist).to_have_attribute("href", re.compile(r"^/history/artist/[0-9a-f]{16}$"))

    # By keyboard: focus the artist's link, Enter follows it.
    first_artist.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/history/artist/[0-9a-f]{16}$"))
    expect(page.locator("h1")).to_have_text(name)
    expect(page.get_by_role("heading", name="When you listen")).to_be_visible()
    expect(page.locator("svg[role=img]")).to_have_count(2)
    plays = page.locator("[aria-labelledby=totals-title] dt", has_text="Plays").locator(
        "xpath=../dd"
    )
    assert int(plays.inner_text()) > 0
    screenshot(page, "history-artist-desktop-1280")
    no_sideways_scroll(page, {"width": 1280})

    # A year of the artist's own, from its period picker.
    years = page.get_by_role("navigation", name="Period")
    year = years.locator("a").nth(2)
    label = year.inner_text()
    year.click()
    expect(years.locator("[aria-current=page]")).to_have_text(label)
    expect(page.locator("#totals-title")).to_contain_text(label)
    expect(page.locator("h1")).to_have_text(name)

    # By click: the artist's top track, then back to the artist from the track.
    track = page.locator("#top-tracks a.item__title").first
    title = track.inner_text()
    track.click()
    page.wait_for_url(re.compile(r"/history/track/[0-9a-f]{32}$"))
    expect(page.locator("h1")).to_have_text(title)
    expect(page.get_by_role("heading", name="How Spotify wrote it")).to_be_visible()
    expect(page.locator("#merged")).to_contain_text("spotify:track:")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "history-track-desktop-1280-dark")
    page.locator("header.history-head").get_by_role("link", name=name).click()
    page.wait_for_url(re.compile(r"/history/artist/[0-9a-f]{16}$"))
    expect(page.locator("h1")).to_have_text(name)

    # An id that is not this listener's: the friendly 404.
    response = page.goto(stack.url("/history/artist/" + "0" * 16))
    assert response.status == 404
    expect(page.get_by_role("heading", name=re.compile("no page here"))).to_be_visible()

    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    log_in(phone, stack, "nameless")
    phone.goto(stack.url("/history"))
    phone.locator("#top-tracks a.item__title").first.click()
    phone.wait_for_url(re.compile(r"/history/track/[0-9a-f]{32}$"))
    expect(phone.get_by_role("heading", name="How Spotify wrote it")).to_be_visible()
    screenshot(phone, "history-track-phone-390")
    no_sideways_scroll(phone, PHONE)
