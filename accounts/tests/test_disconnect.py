import pytest
from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from accounts.models import ListenerSession as Session
from accounts.models import SpotifyToken
from accounts.tests.helpers import browser, log_in

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_disconnect_needs_a_login(client):
    response = client.get("/disconnect")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_disconnect_explains_what_it_deletes_before_doing_it(client, fake_spotify):
    log_in(client, "alice")
    page = client.get("/disconnect").content.decode()
    assert '<form method="post" action="/disconnect">' in page
    assert "Disconnect and delete my data" in page
    assert User.objects.filter(username="alice").exists()


def test_disconnect_deletes_the_listeners_data_and_logs_them_out(client, fake_spotify):
    log_in(client, "alice")
    bob_client = browser()
    log_in(bob_client, "bob")
    alice = User.objects.get(username="alice")
    bob = User.objects.get(username="bob")
    session_key = client.session.session_key

    response = client.post("/disconnect")

    page = response.content.decode()
    assert response.status_code == 200
    assert "https://www.spotify.com/account/apps/" in page
    assert not User.objects.filter(username="alice").exists()
    assert not SpotifyToken.objects.filter(user_id=alice.pk).exists()
    assert not UserSocialAuth.objects.filter(uid="alice").exists()
    assert not Session.objects.filter(session_key=session_key).exists()
    assert client.get("/health").json()["authenticated"] is False
    # Nobody else's data goes with it.
    assert SpotifyToken.objects.filter(user=bob).exists()
    assert bob_client.get("/health").json()["user"] == "Bob Builder"


def test_disconnect_needs_a_csrf_token(client, fake_spotify):
    log_in(client, "alice")
    strict = browser(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post("/disconnect").status_code == 403
    assert User.objects.filter(username="alice").exists()


def test_a_disconnected_listener_can_come_back_as_new(client, fake_spotify):
    log_in(client, "alice")
    client.post("/disconnect")
    log_in(client, "alice")
    assert client.get("/health").json()["user"] == "Alice Liddell"
    assert SpotifyToken.objects.filter(user__username="alice").count() == 1


def test_staff_can_disconnect_a_listener_from_the_admin(client, fake_spotify):
    listener = browser()
    log_in(listener, "alice")
    alice = User.objects.get(username="alice")
    operator = User.objects.create_superuser("operator", password="correct horse battery")
    client.force_login(operator)

    response = client.post(
        "/admin/auth/user/",
        {"action": "disconnect_listeners", "_selected_action": [alice.pk, operator.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Disconnected 1 listener." in response.content.decode()
    assert not User.objects.filter(username="alice").exists()
    assert not SpotifyToken.objects.exists()
    assert User.objects.filter(username="operator").exists()
    assert listener.get("/health").json()["authenticated"] is False
