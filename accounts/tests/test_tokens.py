"""fresh_access_token: proactive and reactive refresh, rotation, revocation, the race."""

import logging
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from accounts.models import SpotifyToken
from accounts.tests.helpers import browser, log_in
from accounts.tokens import ReauthenticationRequired, fresh_access_token
from spotify_stats import client

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
    assert client.get_profile(token).id == "alice"
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
    with pytest.raises(client.TokenExpired):
        client.get_profile(rejected)
    fake_spotify.reset_counters()
    token = fresh_access_token(user, rejected_token=rejected)
    assert token != rejected
    assert client.get_profile(token).id == "bob"
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
    assert client.get_profile(fresh_access_token(user)).id == "alice"


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
    with pytest.raises(client.SpotifyUnavailable):
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
    assert client.get_profile(new).id == "alice"
