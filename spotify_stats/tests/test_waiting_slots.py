"""A Spotify outage cannot take every thread: at most SPOTIFY_WAITING_THREADS
threads of a process wait on Spotify at once, whatever they wait for (a cold
dashboard, a login's token exchange and profile, a token refresh). A cold page
that finds no slot free answers at once, without calling Spotify."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

import spotify_client
from accounts.models import SpotifyToken
from accounts.tests.helpers import approve, browser, start_login
from accounts.tokens import fresh_access_token
from spotify_stats.tests.helpers import SECTION_IDS, failed, html_of, section

pytestmark = pytest.mark.django_db(transaction=True)

# Every Spotify call takes this long while a slot is held in the background.
LATENCY = 1.5


@pytest.fixture
def one_slot(settings):
    """One thread of the process may wait on Spotify (as with WEB_THREADS=2)."""
    settings.SPOTIFY_WAITING_THREADS = 1
    assert spotify_client.waiting_threads() == 0


@contextmanager
def in_flight(fake_spotify, work, *, until):
    """Run ``work()`` in another thread (its own database connection), against a slow
    fake; yields once ``until()`` says its Spotify call has arrived; joins it after."""
    fake_spotify.set_latency(LATENCY)
    with ThreadPoolExecutor(max_workers=1) as pool:

        def run():
            try:
                return work()
            finally:
                connections.close_all()

        future = pool.submit(run)
        deadline = time.monotonic() + 10
        while not until():
            assert time.monotonic() < deadline, "the background work never called Spotify"
            assert not future.done(), future.result()
            time.sleep(0.02)
        yield future
        future.result()
    fake_spotify.set_latency(0)


def assert_answered_without_spotify(response, fake_spotify, listener):
    assert response.status_code == 200
    html = html_of(response)
    for section_id in SECTION_IDS:
        assert failed(html, section_id), section_id
        assert "Spotify took too long to answer" in section(html, section_id)
    assert 'action="/refresh"' in html  # the page's way to try again
    assert fake_spotify.calls(listener=listener) == 0


def test_a_cold_page_finding_no_slot_answers_at_once_without_calling_spotify(
    one_slot, browser_for, fake_spotify
):
    alice, bob = browser_for("alice"), browser_for("bob")
    fake_spotify.reset_counters()

    with in_flight(
        fake_spotify,
        lambda: bob.get("/"),
        until=lambda: fake_spotify.calls(listener="bob") > 0,
    ):
        response = alice.get("/")

    assert_answered_without_spotify(response, fake_spotify, "alice")
    # The slot is free again: alice's next page is fetched as usual.
    assert not failed(html_of(alice.get("/")), "top-tracks")
    assert spotify_client.waiting_threads() == 0


def test_a_login_waiting_on_spotify_holds_a_slot(one_slot, browser_for, fake_spotify):
    alice = browser_for("alice")
    carol = browser()
    callback = approve(start_login(carol), "carol")
    fake_spotify.reset_counters()

    with in_flight(
        fake_spotify,
        lambda: carol.get(callback),
        until=lambda: fake_spotify.calls(path="/api/token") > 0,
    ) as login:
        response = alice.get("/")

    assert_answered_without_spotify(response, fake_spotify, "alice")
    assert login.result().status_code == 302  # carol's login went through


def test_a_token_refresh_waiting_on_spotify_holds_a_slot(one_slot, browser_for, fake_spotify):
    alice = browser_for("alice")
    browser_for("bob")
    bob = SpotifyToken.objects.get(user__username="bob").user
    SpotifyToken.objects.filter(user=bob).update(expires_at=timezone.now() + timedelta(seconds=30))
    fake_spotify.reset_counters()

    with in_flight(
        fake_spotify,
        lambda: fresh_access_token(bob),
        until=lambda: fake_spotify.calls(path="/api/token") > 0,
    ):
        response = alice.get("/")

    assert_answered_without_spotify(response, fake_spotify, "alice")


def test_a_warm_page_needs_no_slot(one_slot, browser_for, fake_spotify):
    alice, bob = browser_for("alice"), browser_for("bob")
    alice.get("/")
    fake_spotify.reset_counters()

    with in_flight(
        fake_spotify,
        lambda: bob.get("/"),
        until=lambda: fake_spotify.calls(listener="bob") > 0,
    ):
        response = alice.get("/")

    html = html_of(response)
    assert not any(failed(html, section_id) for section_id in SECTION_IDS)


def test_with_one_slot_a_page_still_reaches_spotify_for_every_section_and_its_refresh(
    one_slot, browser_for, fake_spotify
):
    """The page's fetch threads and its token refresh share the request's one slot."""
    alice = browser_for("alice")
    SpotifyToken.objects.filter(user__username="alice").update(
        expires_at=timezone.now() + timedelta(seconds=30)
    )
    fake_spotify.reset_counters()

    html = html_of(alice.get("/"))

    assert not any(failed(html, section_id) for section_id in SECTION_IDS)
    assert fake_spotify.calls(path="/api/token") == 1
    assert spotify_client.waiting_threads() == 0


def test_a_login_finding_no_slot_gets_a_busy_page_and_can_try_again(
    one_slot, browser_for, fake_spotify
):
    bob = browser_for("bob")
    carol = browser()
    callback = approve(start_login(carol), "carol")
    fake_spotify.reset_counters()

    with in_flight(
        fake_spotify,
        lambda: bob.get("/"),
        until=lambda: fake_spotify.calls(listener="bob") > 0,
    ):
        response = carol.get(callback)

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "busy" in page
    assert "Try again" in page
    assert fake_spotify.calls(path="/api/token") == 0
    # Nothing of the login was spent: the same answer from Spotify logs carol in now.
    assert carol.get(callback).status_code == 302
    assert carol.get("/health").json()["authenticated"] is True


def test_slots_are_counted_per_request_and_given_back_after_an_error(one_slot):
    entered = threading.Event()
    leave = threading.Event()

    def hold():
        with spotify_client.waiting_slot():
            entered.set()
            leave.wait(10)

    with ThreadPoolExecutor(max_workers=1) as pool:
        holder = pool.submit(hold)
        assert entered.wait(10)
        with pytest.raises(spotify_client.SpotifyBusy), spotify_client.waiting_slot():
            pass
        leave.set()
        holder.result()

    with pytest.raises(ValueError), spotify_client.waiting_slot():
        with spotify_client.waiting_slot():  # nested: the same slot
            assert spotify_client.waiting_threads() == 1
        raise ValueError
    assert spotify_client.waiting_threads() == 0
