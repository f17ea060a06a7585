"""Listeners' journeys through Euterpe in Chromium, from the login to deleting their data.

Every page of every journey is watched (see ``open_page``): a console error, a
CSP violation, a failing image or a page without a CSP header fails the test.
"""

import re
import subprocess
import sys

import psycopg
import pytest
from playwright.sync_api import expect

from devtools.stack import BASE_DIR
from e2e.support import (
    PHONE,
    choose_listener,
    log_in,
    start_login,
    wait_for_dashboard,
)

pytestmark = pytest.mark.e2e


def test_two_listeners_logging_in_at_once_each_see_only_their_own_data(open_page, stack):
    alice, bob = open_page(), open_page()
    # Both OAuth round trips are in flight together, each with its own state.
    start_login(alice, stack)
    start_login(bob, stack)
    choose_listener(bob, "bob")
    choose_listener(alice, "alice")
    wait_for_dashboard(alice, stack)
    wait_for_dashboard(bob, stack)

    for page in (alice, bob):
        page.reload()
        wait_for_dashboard(page, stack)
    expect(alice.locator(".identity")).to_contain_text("Alice Liddell")
    expect(bob.locator(".identity")).to_contain_text("Bob Builder")
    expect(alice.locator("#playlists")).to_contain_text("Morning Coffee")
    expect(bob.locator("#playlists")).to_contain_text("Workshop")
    assert "Bob Builder" not in alice.content()
    assert "Workshop" not in alice.content()
    assert "Alice Liddell" not in bob.content()
    assert "Morning Coffee" not in bob.content()


def test_the_dashboard_at_desktop_and_phone_widths(open_page, stack, screenshot):
    desktop = open_page()
    log_in(desktop, stack, "alice")
    images = desktop.locator("#top-tracks img")
    expect(images.first).to_be_visible()
    screenshot(desktop, "dashboard-desktop-1280")

    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(phone, stack, "carol")
    screenshot(phone, "dashboard-phone-390")
    # Nothing sticks out sideways on a phone.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def test_switching_time_ranges_shows_the_choice_and_keeps_it_in_the_url(open_page, stack):
    page = open_page()
    log_in(page, stack, "carol")
    tabs = page.get_by_role("navigation", name="Time range")
    expect(tabs.locator("[aria-current=page]")).to_contain_text("6 months")

    for label, value in (("4 weeks", "short_term"), ("12 months", "long_term")):
        tabs.get_by_role("link", name=re.compile(label)).click()
        page.wait_for_url(f"**/?time_range={value}")
        expect(tabs.locator("[aria-current=page]")).to_contain_text(label)
        expect(page.locator("#top-tracks-title")).to_contain_text(label)
        expect(page.locator("#top-tracks li").first).to_be_visible()

    # The choice is linkable: opening the URL again shows the same range.
    page.goto(stack.url("/?time_range=short_term"))
    expect(tabs.locator("[aria-current=page]")).to_contain_text("4 weeks")


def test_120_playlists_show_ten_then_all_in_place(open_page, stack):
    page = open_page()
    log_in(page, stack, "collector")
    section = page.locator("#playlists")
    playlists = section.locator("li")
    expect(playlists).to_have_count(120)
    expect(section.locator(".list-count")).to_have_text("120 playlists")
    expect(playlists.nth(9)).to_be_visible()
    expect(playlists.nth(10)).to_be_hidden()

    url = page.url
    page.evaluate("window.__samePage = true")
    section.get_by_text("Show all 120 playlists").click()
    last = playlists.last
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    # In place: the same document, no reload.
    assert page.url == url
    assert page.evaluate("window.__samePage") is True
    # Its lazy-loaded cover arrived once it came into view.
    cover = last.locator("img")
    if cover.count():
        expect(cover).to_have_js_property("complete", True)
        assert cover.evaluate("image => image.naturalWidth") > 0

    section.get_by_text("Show the first 10 only").click()
    expect(playlists.nth(10)).to_be_hidden()


def test_a_name_made_of_html_is_shown_as_text(open_page, stack):
    page = open_page()
    log_in(page, stack, "html")
    expect(page.locator(".identity")).to_contain_text('<script>alert("x")</script>')
    expect(page.locator("#playlists")).to_contain_text("<img src=x onerror=alert(1)>")


def test_declining_on_spotifys_page_lands_on_a_friendly_page(open_page, stack):
    page = open_page()
    start_login(page, stack)
    with page.expect_navigation(url=f"{stack.base_url}/**") as landing:
        page.get_by_role("button", name="Cancel").click()
    # Declining is a choice, not an error: no error status, no console message.
    assert landing.value.status == 200

    expect(page.locator("h1")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("try again", re.I))).to_be_visible()
    assert "Traceback" not in page.content()
    page.goto(stack.url("/"))
    page.wait_for_url(f"{stack.base_url}/login**")


def test_a_listener_spotify_does_not_let_in_gets_the_allow_list_explanation(open_page, stack):
    page = open_page()
    start_login(page, stack)
    with page.expect_navigation(url=f"{stack.base_url}/**") as landing:
        choose_listener(page, "stranger")
    assert landing.value.status == 403

    expect(page.locator("h1")).to_contain_text("Spotify has not let you in yet")
    expect(page.locator("main")).to_contain_text("Development Mode")
    page.goto(stack.url("/"))
    page.wait_for_url(f"{stack.base_url}/login**")


def test_after_logout_the_back_button_shows_no_private_data(open_page, stack):
    page = open_page()
    log_in(page, stack, "legacy")
    expect(page.locator(".identity")).to_contain_text("Lena Legacy")

    page.get_by_role("button", name=re.compile(r"log ?out", re.I)).click()
    page.wait_for_url(f"{stack.base_url}/login**")
    page.go_back()
    page.wait_for_load_state()
    assert "Lena Legacy" not in page.content()
    page.goto(stack.url("/"))
    page.wait_for_url(f"{stack.base_url}/login**")


def _accounts_of(stack, spotify_id):
    """How many Euterpe accounts are linked to ``spotify_id`` (straight from PostgreSQL)."""
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM euterpe.social_auth_usersocialauth WHERE uid = %s",
            (spotify_id,),
        ).fetchone()[0]


def test_disconnecting_deletes_the_listener_and_logs_them_out(open_page, stack):
    page = open_page()
    log_in(page, stack, "unicode")
    expect(page.locator(".identity")).to_contain_text("Zoë 🎧 Ångström 坂本")
    assert _accounts_of(stack, "unicode") == 1

    page.get_by_role("link", name=re.compile("disconnect spotify", re.I)).click()
    page.get_by_role("button", name=re.compile("disconnect and delete", re.I)).click()
    expect(page.locator("h1")).to_contain_text("Your data is deleted")
    assert _accounts_of(stack, "unicode") == 0

    page.go_back()
    page.wait_for_load_state()
    assert "Ångström" not in page.content()
    page.goto(stack.url("/"))
    page.wait_for_url(f"{stack.base_url}/login**")


def test_an_admin_sees_listeners_and_refused_logins_but_never_a_token(open_page, stack):
    listener = open_page()
    log_in(listener, stack, "carol")
    refused = open_page()
    start_login(refused, stack)
    choose_listener(refused, "stranger")
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=BASE_DIR,
        env={
            **stack.env,
            "DJANGO_SUPERUSER_USERNAME": "operator",
            "DJANGO_SUPERUSER_PASSWORD": "a-long-admin-password-for-e2e",
            "DJANGO_SUPERUSER_EMAIL": "operator@example.com",
        },
        check=True,
        capture_output=True,
    )

    admin = open_page()
    admin.goto(stack.url("/admin/"))
    admin.fill("#id_username", "operator")
    admin.fill("#id_password", "a-long-admin-password-for-e2e")
    admin.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(admin.locator("#site-name")).to_be_visible()

    admin.goto(stack.url("/admin/auth/user/?q=carol"))
    admin.locator("#result_list tbody th a", has_text="carol").click()
    expect(admin.locator("body")).to_contain_text("Token expires at")
    assert "fakeAT-" not in admin.content()
    assert "fakeRT-" not in admin.content()
    admin.goto(stack.url("/admin/accounts/refusedlogin/"))
    expect(admin.locator("#result_list tbody tr")).not_to_have_count(0)


def test_no_authorization_code_or_state_reaches_gunicorns_access_log(open_page, stack):
    log_in(open_page(), stack, "alice")

    log = stack.gunicorn_log.read_text()
    assert '"GET /callback HTTP/1.1" 302' in log
    assert "code=" not in log
    assert "state=" not in log
