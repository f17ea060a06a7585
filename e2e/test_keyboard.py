"""The dashboard by keyboard alone: Tab order, a visible focus ring on every stop, the skip
link, the time-range picker and the list expanders."""

import re

import pytest
from playwright.sync_api import expect

from e2e.support import PHONE, log_in

pytestmark = pytest.mark.e2e

# What is focused, whether its ring shows and whether anything covers it.
_FOCUSED = """() => {
  const element = document.activeElement;
  const box = element.getBoundingClientRect();
  const style = getComputedStyle(element);
  const atCentre = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {
    name: (element.innerText || element.getAttribute("aria-label") || "").trim(),
    tag: element.tagName.toLowerCase(),
    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    inView: box.bottom <= innerHeight && box.top >= 0,
    // Nothing (the sticky header above all) covers it: WCAG 2.4.11.
    covered: atCentre === null || !element.contains(atCentre),
  };
}"""


def tab(page):
    page.keyboard.press("Tab")
    focused = page.evaluate(_FOCUSED)
    assert focused["ring"], f"no focus ring on {focused}"
    assert focused["inView"], f"focused but off screen: {focused}"
    assert not focused["covered"], f"focused but covered: {focused}"
    return focused


def test_the_dashboard_walked_by_keyboard(open_page, stack):
    page = open_page()
    log_in(page, stack, "alice")

    # From the top: the skip link first, then the header, then the page in reading order.
    names = [tab(page)["name"] for _ in range(8)]
    assert names == [
        "Skip to content",
        "Euterpe",
        "Log out",
        "Open your profile on Spotify",
        "Refresh now",
        "Last 4 weeks",
        "Last 6 months",
        "Last 12 months",
    ]

    # The time-range picker: Enter on a range opens it.
    page.keyboard.press("Enter")
    page.wait_for_url("**/?time_range=long_term")
    expect(page.locator("#top-tracks-title")).to_contain_text("12 months")

    # The skip link jumps past the header: the next Tab is in the content.
    assert tab(page)["name"] == "Skip to content"
    page.keyboard.press("Enter")
    assert tab(page)["name"] == "Open your profile on Spotify"

    # Through the first ten tracks to their expander, every stop visible with its ring.
    tracks = page.locator("#top-tracks li")
    for _ in range(60):
        focused = tab(page)
        if focused["tag"] == "summary":
            break
    assert focused["name"] == "Show all 50 tracks"
    expect(tracks.nth(10)).to_be_hidden()
    page.keyboard.press("Enter")
    expect(tracks.nth(10)).to_be_visible()
    assert page.evaluate(_FOCUSED)["name"] == "Show the first 10 only"
    # The next stop is the eleventh track, in place below the expander.
    eleventh = tracks.nth(10).locator(".item__title")
    tab(page)
    expect(eleventh).to_be_focused()
    # Shift+Tab back to the expander; Space closes it again.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press(" ")
    expect(tracks.nth(10)).to_be_hidden()


def test_on_a_phone_the_first_screen_shows_the_name_the_ranges_and_the_first_tracks(
    open_page, stack
):
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(page, stack, "carol")

    first_screen = [
        page.locator(".identity__name"),
        page.get_by_role("navigation", name="Time range"),
        *[page.locator("#top-tracks li").nth(n) for n in range(3)],
    ]
    for element in first_screen:
        box = element.bounding_box()
        assert box["y"] + box["height"] <= PHONE["height"], f"{element} ends at {box}"
    assert re.search(r"\d+ tracks", page.locator("#top-tracks .list-count").inner_text())
