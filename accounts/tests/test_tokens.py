"""fresh_access_token: proactive and reactive refresh, rotation, revocation, the race."""

import logging
import sys
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.views.debug import ExceptionReporter
from social_core.exceptions import AuthProviderError
from social_django.utils import load_backend, load_strategy

import spotify_client
from accounts.models import SpotifyToken
from accounts.tests.helpers import browser, log_in
from accounts.tokens import ReauthenticationRequired, expires_in_seconds, fresh_access_token

User = get_user_model()


def logged_in(listener):
    log_in(browser(), listener)
    return User.objects.get(username=listener)


def expire_soon(user, seconds=60):
    SpotifyToken.objects.filter(user=user).update(
        expires_at=timezone.now() + timedelta(seconds=seconds)
    )


@pytest.mark.django_db
def test_login_stores_the_tokens_spotify_issued(fake_spotify):
    user = logged_in("alice")
    token = SpotifyToken.objects.get(user=user)
    live = fake_spotify.current_tokens("alice")
    assert token.access_token in live["access"]
    assert token.refresh_token in live["refresh"]
    assert token.expires_at > timezone.now() + timedelta(minutes=55)
    assert "user-top-read" in token.scope
    assert token.last_refreshed_at is None


@pytest.mark.django_db
def test_a_token_good_for_more_than_two_minutes_is_used_as_it_is(fake_spotify):
    user = logged_in("alice")
    stored = SpotifyToken.objects.get(user=user).access_token
    expire_soon(user, seconds=180)
    fake_spotify.reset_counters()
    assert fresh_access_token(user) == stored
    assert fake_spotify.calls("/api/token") == 0


@pytest.mark.django_db
def test_a_token_expiring_within_two_minutes_is_refreshed_first(fake_spotify, caplog):
    user = logged_in("alice")
    old = SpotifyToken.objects.get(user=user).access_token
    expire_soon(user, seconds=90)
    fake_spotify.reset_counters()
    with caplog.at_level(logging.INFO):
        token = fresh_access_token(user)
    assert token != old
    assert fake_spotify.calls("/api/token") == 1
    assert spotify_client.get_profile(token).id == "alice"
    stored = SpotifyToken.objects.get(user=user)
    assert stored.access_token == token
    assert stored.expires_at > timezone.now() + timedelta(minutes=55)
    assert stored.last_refreshed_at is not None
    assert "Refreshing token for user alice" in caplog.messages


@pytest.mark.django_db
def test_a_token_spotify_rejected_is_refreshed_once(fake_spotify):
    user = logged_in("bob")
    rejected = SpotifyToken.objects.get(user=user).access_token
    fake_spotify.expire_access_tokens("bob")
    with pytest.raises(spotify_client.TokenExpired):
        spotify_client.get_profile(rejected)
    fake_spotify.reset_counters()
    token = fresh_access_token(user, rejected_token=rejected)
    assert token != rejected
    assert spotify_client.get_profile(token).id == "bob"
    # A second request that saw the same 401 finds the new token stored.
    assert fresh_access_token(user, rejected_token=rejected) == token
    assert fake_spotify.calls("/api/token") == 1


@pytest.mark.django_db
def test_a_new_refresh_token_replaces_the_stored_one(fake_spotify):
    fake_spotify.set_rotation(True)
    user = logged_in("alice")
    old_refresh = SpotifyToken.objects.get(user=user).refresh_token
    expire_soon(user)
    fresh_access_token(user)
    stored = SpotifyToken.objects.get(user=user)
    assert stored.refresh_token != old_refresh
    live = fake_spotify.current_tokens("alice")["refresh"]
    assert stored.refresh_token in live
    assert old_refresh not in live
    # And the new one works for the next refresh.
    expire_soon(user)
    assert spotify_client.get_profile(fresh_access_token(user)).id == "alice"


@pytest.mark.django_db
def test_without_a_new_refresh_token_the_stored_one_is_kept(fake_spotify):
    fake_spotify.set_rotation(False)
    user = logged_in("alice")
    old_refresh = SpotifyToken.objects.get(user=user).refresh_token
    for _ in range(2):
        expire_soon(user)
        fresh_access_token(user)
    assert SpotifyToken.objects.get(user=user).refresh_token == old_refresh


@pytest.mark.django_db
def test_a_revoked_refresh_token_deletes_the_tokens_and_asks_for_a_login(fake_spotify):
    user = logged_in("carol")
    fake_spotify.revoke("carol")
    expire_soon(user)
    fake_spotify.reset_counters()
    with pytest.raises(ReauthenticationRequired) as raised:
        fresh_access_token(user)
    assert raised.value.reason == "revoked"
    assert not SpotifyToken.objects.filter(user=user).exists()
    # No retry loop: the next call does not go back to Spotify.
    with pytest.raises(ReauthenticationRequired):
        fresh_access_token(user)
    assert fake_spotify.calls("/api/token") == 1


@pytest.mark.django_db
def test_spotify_being_down_keeps_the_tokens(fake_spotify):
    user = logged_in("alice")
    before = SpotifyToken.objects.get(user=user)
    expire_soon(user)
    fake_spotify.fail_next("/api/token", 1, 503)
    with pytest.raises(spotify_client.SpotifyUnavailable):
        fresh_access_token(user)
    after = SpotifyToken.objects.get(user=user)
    assert (after.access_token, after.refresh_token) == (before.access_token, before.refresh_token)


@pytest.mark.django_db
def test_a_listener_without_tokens_must_log_in(fake_spotify):
    user = User.objects.create_user("no-tokens")
    with pytest.raises(ReauthenticationRequired) as raised:
        fresh_access_token(user)
    assert raised.value.reason == "no_tokens"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reactive", [False, True], ids=["proactive", "reactive"])
def test_concurrent_requests_with_an_expired_token_refresh_once(fake_spotify, reactive):
    fake_spotify.set_rotation(True)
    user = logged_in("alice")
    old = SpotifyToken.objects.get(user=user).access_token
    fake_spotify.expire_access_tokens("alice")
    if not reactive:
        expire_soon(user, seconds=-60)
    fake_spotify.reset_counters()

    threads_count = 8
    start = threading.Barrier(threads_count)
    results, errors = [], []

    def request():
        try:
            start.wait(timeout=10)
            results.append(fresh_access_token(user, rejected_token=old if reactive else None))
        except Exception as error:  # reported below, with the others
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == threads_count
    assert fake_spotify.calls("/api/token") == 1
    assert len(set(results)) == 1
    new = results[0]
    assert new != old
    assert SpotifyToken.objects.get(user=user).access_token == new
    assert spotify_client.get_profile(new).id == "alice"


def lasts_about_an_hour(token):
    left = token.expires_at - timezone.now()
    return timedelta(minutes=59) < left <= timedelta(minutes=60)


NONSENSE_EXPIRES_IN = [10**20, "soon", 1e300, -5, 0, None, True, "", [3600]]


@pytest.mark.django_db
@pytest.mark.parametrize("expires_in", NONSENSE_EXPIRES_IN, ids=repr)
def test_a_login_with_a_nonsense_expires_in_succeeds_with_an_hour(
    settings, token_answers, expires_in
):
    settings.DEBUG = True
    token_answers["expires_in"] = expires_in
    web = browser()
    response = log_in(web, "alice")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert web.get("/health").json()["authenticated"] is True
    assert lasts_about_an_hour(SpotifyToken.objects.get(user__username="alice"))


@pytest.mark.django_db
def test_a_login_keeps_a_sane_expires_in_even_as_text(token_answers):
    token_answers["expires_in"] = "7200"
    log_in(browser(), "alice")
    left = SpotifyToken.objects.get(user__username="alice").expires_at - timezone.now()
    assert timedelta(minutes=119) < left <= timedelta(minutes=120)


@pytest.mark.django_db
@pytest.mark.parametrize("expires_in", NONSENSE_EXPIRES_IN, ids=repr)
def test_a_refresh_with_a_nonsense_expires_in_works_for_an_hour(token_answers, expires_in):
    user = logged_in("alice")
    old = SpotifyToken.objects.get(user=user).access_token
    expire_soon(user)
    token_answers["expires_in"] = expires_in
    token = fresh_access_token(user)
    assert token != old
    assert spotify_client.get_profile(token).id == "alice"
    stored = SpotifyToken.objects.get(user=user)
    assert stored.access_token == token
    assert lasts_about_an_hour(stored)
    # And it is not refreshed again at once.
    assert fresh_access_token(user) == token


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3600, 3600),
        (1, 1),
        (86400, 86400),
        ("120", 120),
        (86401, 3600),
        ("86401", 3600),
        ("0", 3600),
        ("-1", 3600),
        ("\uff11\uff12", 3600),  # fullwidth digits
        (" 60", 3600),
        pytest.param("9" * 5000, 3600, id="5000 digits"),
        (3600.0, 3600),
        (float("inf"), 3600),
        (False, 3600),
        ({}, 3600),
    ],
    ids=repr,
)
def test_expires_in_is_read_sanely(value, seconds):
    assert expires_in_seconds(value) == seconds


@pytest.mark.django_db
def test_error_reports_of_a_failed_refresh_show_no_token(fake_spotify, settings):
    # Django hides sensitive_variables from its error reports only with DEBUG off.
    settings.DEBUG = False
    user = logged_in("alice")
    expire_soon(user)
    fake_spotify.fail_next("/api/token", 1, 503)
    try:
        fresh_access_token(user)
    except spotify_client.SpotifyUnavailable:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    else:
        pytest.fail("the refresh should have failed")
    stored = SpotifyToken.objects.get(user=user)
    assert "fresh_access_token" in report
    assert stored.access_token not in report
    assert stored.refresh_token not in report


@pytest.mark.django_db
def test_error_reports_of_a_failed_profile_fetch_show_no_token(fake_spotify, settings, rf):
    settings.DEBUG = False
    user = logged_in("alice")
    request = rf.get("/callback")
    request.session = {}
    backend = load_backend(load_strategy(request), "spotify", redirect_uri="/callback")
    fake_spotify.fail_next("/v1/me", 2, 503)
    try:
        backend.user_data(SpotifyToken.objects.get(user=user).access_token)
    except AuthProviderError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    else:
        pytest.fail("the profile fetch should have failed")
    assert "user_data" in report
    assert SpotifyToken.objects.get(user=user).access_token not in report
