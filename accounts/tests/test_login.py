import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from accounts.models import ListenerSession as Session
from accounts.services import one_line
from accounts.tests.helpers import approve, browser, log_in, start_login

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_the_login_page_offers_a_post_form_with_csrf_to_spotify(client):
    response = client.get("/login")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<form method="post" action="/login/spotify/">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert "Log in with Spotify" in page


def test_an_anonymous_visitor_of_the_dashboard_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_a_login_cannot_be_started_with_get(client):
    assert client.get("/login/spotify/").status_code == 405


def test_spotify_gets_the_redirect_uri_byte_for_byte(client, fake_spotify, settings):
    settings.SPOTIFY_REDIRECT_URI = "https://testserver/callback"
    authorize_url = start_login(client)
    parts = urlsplit(authorize_url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == fake_spotify.auth_base_url
    assert parts.path == "/authorize"
    assert query["redirect_uri"] == ["https://testserver/callback"]
    assert query["client_id"] == [fake_spotify.client_id]
    assert query["response_type"] == ["code"]
    assert query["scope"] == [settings.SPOTIFY_SCOPE]
    assert len(query["state"][0]) >= 32


def test_several_listeners_log_in_at_once_and_each_sees_only_their_own_name(fake_spotify):
    listeners = ["alice", "bob", "carol", "unicode", "html"]
    names = {key: fake_spotify.listener(key).display_name for key in listeners}
    browsers = {key: browser() for key in listeners}
    # Every login is started before any completes, as with real concurrent visitors.
    pending = {key: start_login(browsers[key]) for key in listeners}
    for key in listeners:
        response = browsers[key].get(approve(pending[key], key))
        assert response.status_code == 302
        assert response["Location"] == "/"

    for key in listeners:
        page = browsers[key].get("/").content.decode()
        health = browsers[key].get("/health").json()
        assert health["user"] == names[key]
        for other in listeners:
            if other != key:
                assert names[other] not in page
        assert browsers[key].get("/health").json()["authenticated"] is True
    assert set(User.objects.values_list("username", flat=True)) >= set(listeners)


def test_markup_in_a_display_name_is_shown_as_text(client, fake_spotify):
    log_in(client, "html")
    page = client.get("/").content.decode()
    assert "<script>" not in page


def test_a_listener_without_a_display_name_is_shown_by_spotify_id(client, fake_spotify):
    log_in(client, "nameless")
    user = User.objects.get(username="nameless")
    assert user.first_name == ""
    assert client.get("/health").json()["user"] == "nameless"


def test_one_user_per_spotify_account_with_the_display_name_kept_current(fake_spotify):
    log_in(browser(), "alice")
    User.objects.filter(username="alice").update(first_name="Old Name")
    log_in(browser(), "alice")
    user = User.objects.get(username="alice")
    assert user.first_name == "Alice Liddell"
    assert User.objects.filter(username="alice").count() == 1
    assert UserSocialAuth.objects.filter(uid="alice", provider="spotify").count() == 1
    assert not user.has_usable_password()


def test_the_session_key_changes_at_login(client, fake_spotify):
    start_login(client)
    before = client.session.session_key
    assert before
    response = log_in(client, "alice")
    after = client.session.session_key
    assert response.status_code == 302
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()


def test_the_session_lives_in_the_database_for_30_days(client, fake_spotify):
    response = log_in(client, "alice")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == 30 * 24 * 60 * 60
    session = Session.objects.get(session_key=cookie.value)
    assert session.get_decoded()["_auth_user_id"] == str(User.objects.get(username="alice").pk)


def test_logging_in_as_another_listener_replaces_the_session(client, fake_spotify):
    log_in(client, "alice")
    log_in(client, "bob")
    assert client.get("/health").json()["user"] == "Bob Builder"


def test_logout_asks_for_confirmation_on_get(client, fake_spotify):
    log_in(client, "alice")
    response = client.get("/logout")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<form method="post" action="/logout">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert client.get("/health").json()["authenticated"] is True


def test_logout_flushes_the_session_on_the_server(client, fake_spotify):
    log_in(client, "alice")
    session_key = client.session.session_key
    response = client.post("/logout")
    assert response.status_code == 302
    assert response["Location"] == "/login"
    assert not Session.objects.filter(session_key=session_key).exists()
    assert client.get("/health").json()["authenticated"] is False
    assert "You are logged out." in client.get("/login").content.decode()


def test_logout_needs_a_csrf_token(client, fake_spotify):
    log_in(client, "alice")
    strict = browser(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post("/logout").status_code == 403
    assert strict.get("/health").json()["authenticated"] is True


def test_private_pages_are_never_stored_by_caches(client, fake_spotify):
    log_in(client, "alice")
    for path in ("/", "/logout", "/disconnect", "/privacy", "/health"):
        assert "no-store" in client.get(path)["Cache-Control"], path


def test_the_login_page_is_never_stored_by_caches(client):
    assert "no-store" in client.get("/login")["Cache-Control"]


def test_a_login_is_logged_with_name_and_spotify_id(client, fake_spotify, caplog):
    with caplog.at_level(logging.INFO):
        log_in(client, "unicode")
    name = fake_spotify.listener("unicode").display_name
    assert f"User {name} (unicode) logged in successfully" in caplog.messages


def test_a_nameless_login_is_logged_with_the_spotify_id(client, fake_spotify, caplog):
    with caplog.at_level(logging.INFO):
        log_in(client, "nameless")
    assert "User nameless (nameless) logged in successfully" in caplog.messages


def test_line_breaks_in_a_name_never_split_a_log_line():
    assert one_line("Mallory\nUser admin (admin) logged in successfully\r") == (
        "Mallory User admin (admin) logged in successfully "
    )


def test_a_same_site_next_path_is_honoured_after_login(client, fake_spotify):
    page = client.get("/login?next=/privacy").content.decode()
    assert '<input type="hidden" name="next" value="/privacy">' in page
    response = log_in(client, "alice", next_url="/privacy")
    assert response["Location"] == "/privacy"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"],
)
def test_a_next_url_off_the_site_is_ignored(client, fake_spotify, next_url):
    page = client.get("/login", {"next": next_url}).content.decode()
    assert "evil.example" not in page
    assert "javascript" not in page
    response = log_in(client, "alice", next_url=next_url)
    assert response["Location"] == "/"


def test_a_logged_in_listener_visiting_login_goes_to_next(client, fake_spotify):
    log_in(client, "alice")
    assert client.get("/login?next=/privacy")["Location"] == "/privacy"
    assert client.get("/login?next=https://evil.example/")["Location"] == "/"


def test_the_privacy_page_says_what_is_stored_and_how_to_delete_it(client):
    page = client.get("/privacy").content.decode()
    assert "encrypted" in page
    assert "/disconnect" in page
    assert "https://www.spotify.com/account/apps/" in page
