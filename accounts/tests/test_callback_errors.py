"""Every way a callback can go wrong ends on a friendly page, without a session or a 500."""

import logging
import threading
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from social_django.models import UserSocialAuth

from accounts.models import RefusedLogin, SpotifyToken
from accounts.tests.helpers import approve, log_in, start_login, state_of

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_friendly_failure(client, response, status):
    page = response.content.decode()
    assert response.status_code == status, page
    assert 'href="/login"' in page
    assert "Try again" in page
    assert "Traceback" not in page
    assert "_auth_user_id" not in client.session
    assert client.get("/health").json()["authenticated"] is False


def test_a_callback_without_parameters_is_a_400(client, debug, fake_spotify):
    assert_friendly_failure(client, client.get("/callback"), 400)


def test_a_callback_without_state_is_a_400(client, debug, fake_spotify):
    callback = approve(start_login(client), "alice")
    without_state = "&".join(p for p in callback.split("?")[1].split("&") if "state" not in p)
    assert_friendly_failure(client, client.get(f"/callback?{without_state}"), 400)


def test_a_callback_with_a_wrong_state_is_a_400(client, debug, fake_spotify):
    authorize_url = start_login(client)
    callback = approve(authorize_url, "alice").replace(state_of(authorize_url), "x" * 32)
    assert_friendly_failure(client, client.get(callback), 400)


def test_a_callback_from_another_browser_is_a_400(client, debug, fake_spotify):
    from accounts.tests.helpers import browser

    callback = approve(start_login(browser()), "alice")
    assert_friendly_failure(client, client.get(callback), 400)


def test_a_state_with_a_huge_value_is_a_400(client, debug, fake_spotify):
    start_login(client)
    response = client.get("/callback", {"code": "c", "state": "s" * 5000})
    assert_friendly_failure(client, response, 400)


def test_a_bogus_code_is_a_400(client, debug, fake_spotify):
    state = state_of(start_login(client))
    response = client.get("/callback", {"code": "fakeCODE-bogus", "state": state})
    assert_friendly_failure(client, response, 400)


def test_a_5000_character_code_is_a_400(client, debug, fake_spotify):
    state = state_of(start_login(client))
    response = client.get("/callback", {"code": "A" * 5000, "state": state})
    assert_friendly_failure(client, response, 400)


def test_a_callback_without_a_code_is_a_400(client, debug, fake_spotify):
    state = state_of(start_login(client))
    assert_friendly_failure(client, client.get("/callback", {"state": state}), 400)
    state = state_of(start_login(client))
    assert_friendly_failure(client, client.get("/callback", {"code": "", "state": state}), 400)


def test_a_replayed_callback_is_a_400(client, debug, fake_spotify):
    callback = approve(start_login(client), "alice")
    assert client.get(callback).status_code == 302
    client.post("/logout")
    assert_friendly_failure(client, client.get(callback), 400)


def test_a_replayed_code_with_a_fresh_state_is_a_400(client, debug, fake_spotify):
    callback = approve(start_login(client), "alice")
    used_code = callback.split("code=")[1].split("&")[0]
    assert client.get(callback).status_code == 302
    client.post("/logout")
    state = state_of(start_login(client))
    response = client.get("/callback", {"code": used_code, "state": state})
    assert_friendly_failure(client, response, 400)


def test_declining_at_spotify_is_a_friendly_200_that_says_so(client, debug, fake_spotify):
    callback = approve(start_login(client), "alice", decline=True)
    assert "error=access_denied" in callback
    response = client.get(callback)
    assert_friendly_failure(client, response, 200)
    assert "You did not connect Spotify" in response.content.decode()


def test_a_rejected_client_secret_is_a_502_and_logged_as_an_error(
    client, debug, fake_spotify, settings, caplog
):
    callback = approve(start_login(client), "alice")
    settings.SPOTIFY_CLIENT_SECRET = "not-the-secret"
    with caplog.at_level(logging.WARNING):
        response = client.get(callback)
    assert_friendly_failure(client, response, 502)
    assert "SPOTIFY_CLIENT_SECRET" in response.content.decode()
    assert any(
        record.levelno == logging.ERROR and "Login failed: configuration" in record.getMessage()
        for record in caplog.records
    )


def test_an_invalid_request_answer_from_the_token_endpoint_is_a_502(client, debug, fake_spotify):
    callback = approve(start_login(client), "alice")
    fake_spotify.fail_next("/api/token", 1, 400)  # {"error": "invalid_request"}
    assert_friendly_failure(client, client.get(callback), 502)


@pytest.mark.parametrize("path", ["/api/token", "/v1/me"])
@pytest.mark.parametrize("status", [500, 503, 429])
def test_spotify_failing_during_login_is_a_502(client, debug, fake_spotify, path, status):
    callback = approve(start_login(client), "alice")
    # Two: the client retries a failed GET once.
    fake_spotify.fail_next(path, 2, status, retry_after=1 if status == 429 else None)
    assert_friendly_failure(client, client.get(callback), 502)
    assert not SpotifyToken.objects.exists()


@pytest.mark.parametrize("path", ["/api/token", "/v1/me"])
def test_a_malformed_answer_during_login_is_a_502(client, debug, fake_spotify, path):
    callback = approve(start_login(client), "alice")
    fake_spotify.malformed_next(path, 2)
    assert_friendly_failure(client, client.get(callback), 502)


def test_a_spotify_account_linked_to_another_user_is_a_409(client, debug, fake_spotify):
    someone = User.objects.create_user("someone-else")
    UserSocialAuth.objects.create(user=someone, provider="spotify", uid="alice")
    response = log_in(client, "alice")
    assert_friendly_failure(client, response, 409)


def test_a_listener_not_on_the_allow_list_learns_why_and_is_recorded(
    client, debug, fake_spotify, caplog
):
    old = RefusedLogin.objects.create(reason=RefusedLogin.Reason.NOT_ON_ALLOW_LIST)
    RefusedLogin.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    with caplog.at_level(logging.INFO):
        response = log_in(client, "stranger")
    page = response.content.decode()
    assert response.status_code == 403
    assert "Development Mode" in page
    assert "5" in page
    assert "email" in page
    assert "_auth_user_id" not in client.session
    refused = RefusedLogin.objects.get()  # and the 91-day-old one is gone
    assert refused.user_agent == ""
    assert refused.reason == RefusedLogin.Reason.NOT_ON_ALLOW_LIST
    assert not User.objects.filter(username="stranger").exists()
    assert not SpotifyToken.objects.exists()
    assert any("not on the Development Mode allow-list" in m for m in caplog.messages)


@pytest.mark.django_db(transaction=True)
def test_two_first_logins_of_one_listener_racing_both_succeed_with_one_user(fake_spotify, settings):
    from accounts.tests.helpers import browser

    # Four logins at once in one process: as many threads as may wait on Spotify.
    settings.SPOTIFY_WAITING_THREADS = 4
    browsers = [browser() for _ in range(4)]
    callbacks = [approve(start_login(b), "legacy") for b in browsers]
    start = threading.Barrier(len(browsers))
    statuses, errors = [], []

    def complete(client, callback):
        try:
            start.wait(timeout=10)
            statuses.append(client.get(callback).status_code)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=complete, args=pair)
        for pair in zip(browsers, callbacks, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    # Each ends on the dashboard, or (lost race) on the friendly 409 page: never a 500.
    assert set(statuses) <= {302, 409}
    assert 302 in statuses
    assert User.objects.filter(username="legacy").count() == 1
    assert UserSocialAuth.objects.filter(uid="legacy").count() == 1
    assert SpotifyToken.objects.filter(user__username="legacy").count() == 1


def test_two_interleaved_first_logins_of_one_listener_end_with_one_user(fake_spotify):
    from accounts.tests.helpers import browser

    first, second = browser(), browser()
    callbacks = [approve(start_login(first), "carol"), approve(start_login(second), "carol")]
    assert first.get(callbacks[0]).status_code == 302
    assert second.get(callbacks[1]).status_code == 302
    assert User.objects.filter(username="carol").count() == 1
    assert SpotifyToken.objects.filter(user__username="carol").count() == 1


def test_social_auths_complete_url_fails_as_gently_as_the_callback(client, debug, fake_spotify):
    assert_friendly_failure(client, client.get("/complete/spotify/"), 400)
    assert client.get("/complete/no-such-provider/?code=x&state=y").status_code == 404


def test_a_failed_login_is_logged_with_its_reason(client, fake_spotify, caplog):
    state = state_of(start_login(client))
    with caplog.at_level(logging.INFO):
        client.get("/callback", {"code": "fakeCODE-bogus", "state": state})
    assert "Login failed: expired (AuthCredentialError, authorization_code_rejected)" in (
        caplog.messages
    )


@pytest.mark.parametrize("make", ["superuser", "password_user"])
def test_a_spotify_id_naming_an_unlinked_user_never_logs_in_as_them(
    client, debug, fake_spotify, make
):
    if make == "superuser":
        existing = User.objects.create_superuser("bob", password="correct horse battery")
    else:
        existing = User.objects.create_user("bob", password="correct horse battery")
    User.objects.filter(pk=existing.pk).update(first_name="Robert the admin")
    before = User.objects.get(pk=existing.pk)

    response = log_in(client, "bob")  # the fake's Spotify account "bob"

    assert_friendly_failure(client, response, 409)
    after = User.objects.get(pk=existing.pk)
    assert after.first_name == "Robert the admin"
    assert after.last_login == before.last_login
    assert after.password == before.password
    assert (after.is_staff, after.is_superuser) == (before.is_staff, before.is_superuser)
    assert not UserSocialAuth.objects.exists()
    assert not SpotifyToken.objects.exists()
    assert User.objects.filter(username="bob").count() == 1


def test_a_failed_takeover_is_logged_as_a_conflict(client, fake_spotify, caplog):
    User.objects.create_superuser("bob", password="correct horse battery")
    with caplog.at_level(logging.INFO):
        log_in(client, "bob")
    assert "Login failed: conflict (AuthAssociationError, username_in_use)" in caplog.messages


def test_a_listener_linked_to_their_user_still_logs_in(client, fake_spotify):
    log_in(client, "bob")
    client.post("/logout")
    User.objects.filter(username="bob").update(first_name="Old Name")
    response = log_in(client, "bob")
    assert response.status_code == 302
    assert client.get("/health").json()["user"] == "Bob Builder"


def test_a_partial_token_with_a_nul_is_a_400(client, debug, fake_spotify, caplog):
    state = state_of(start_login(client))
    with caplog.at_level(logging.INFO):
        response = client.get("/callback", {"code": "x", "state": state, "partial_token": "\0"})
    assert_friendly_failure(client, response, 400)
    assert "Login failed: expired (partial_token in the callback, -)" in caplog.messages


def test_a_partial_token_is_refused_as_euterpe_has_no_partial_pipeline(
    client, debug, fake_spotify, caplog
):
    state = state_of(start_login(client))
    fake_spotify.reset_counters()
    with caplog.at_level(logging.INFO):
        response = client.get("/callback", {"code": "x", "state": state, "partial_token": "abc"})
    assert_friendly_failure(client, response, 400)
    assert fake_spotify.calls("/api/token") == 0
    assert "Login failed: expired (partial_token in the callback, -)" in caplog.messages


def test_a_genuine_callback_with_a_partial_token_added_does_not_log_in(client, fake_spotify):
    callback = approve(start_login(client), "alice")
    assert_friendly_failure(client, client.get(f"{callback}&partial_token=abc"), 400)
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.parametrize("where", ["state", "code", "error", "other"])
@pytest.mark.parametrize("character", ["\0", "\n", "\x7f", "\x85"], ids=["nul", "lf", "del", "nel"])
def test_a_control_character_in_the_callback_is_a_400_before_spotify_is_asked(
    client, debug, fake_spotify, caplog, where, character
):
    callback = approve(start_login(client), "alice")
    query = dict(pair.split("=", 1) for pair in callback.split("?", 1)[1].split("&"))
    params = {key: unquote(value) for key, value in query.items()}
    params[where] = params.get(where, "x") + character
    fake_spotify.reset_counters()
    with caplog.at_level(logging.INFO):
        response = client.get("/callback", params)
    assert_friendly_failure(client, response, 400)
    assert fake_spotify.calls("/api/token") == 0
    assert "Login failed: expired (control character in the callback, -)" in caplog.messages
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.django_db(transaction=True)
def test_a_value_postgresql_refuses_is_a_400_not_a_500(client, token_answers, settings, caplog):
    # A NUL in the token answer's scope reaches PostgreSQL, which refuses it (DataError).
    settings.DEBUG = True
    token_answers["scope"] = "user-top-read\0"
    with caplog.at_level(logging.INFO):
        response = log_in(client, "alice")
    assert_friendly_failure(client, response, 400)
    assert "Login failed: expired (DataError, -)" in caplog.messages
    assert "\0" not in "".join(caplog.messages)


# An `error` from Spotify only counts when it answers this session's own login: a
# stranger's link to /callback?error=... must not page the operator.

LOGIN_EXPIRED = "That login did not go through"


def _states(client, kind):
    if kind == "no state":
        return {}
    if kind == "a state of another browser":
        from accounts.tests.helpers import browser

        return {"state": state_of(start_login(browser()))}
    start_login(client)  # this session has a login pending, with another state
    return {"state": "x" * 32}


@pytest.mark.parametrize("error", ["invalid_client", "unauthorized_client", "access_denied"])
@pytest.mark.parametrize("kind", ["no state", "a state of another browser", "a state not ours"])
def test_an_error_without_our_pending_login_is_the_expired_page_at_warning(
    client, debug, fake_spotify, caplog, error, kind
):
    query = {"error": error, **_states(client, kind)}

    with caplog.at_level(logging.INFO, logger="accounts.views"):
        response = client.get("/callback", query)

    assert_friendly_failure(client, response, 400)
    assert LOGIN_EXPIRED in response.content.decode()
    failures = [r for r in caplog.records if r.getMessage().startswith("Login failed")]
    assert [(r.levelno, r.getMessage()) for r in failures] == [
        (logging.WARNING, "Login failed: expired (error without a pending login, -)")
    ]


def test_an_error_answering_our_pending_login_shows_the_configuration_page_at_error(
    client, debug, fake_spotify, caplog
):
    state = state_of(start_login(client))

    with caplog.at_level(logging.INFO, logger="accounts.views"):
        response = client.get("/callback", {"error": "invalid_client", "state": state})

    assert_friendly_failure(client, response, 502)
    assert "SPOTIFY_CLIENT_ID" in response.content.decode()
    assert any(
        r.levelno == logging.ERROR and r.getMessage().startswith("Login failed: configuration")
        for r in caplog.records
    )
