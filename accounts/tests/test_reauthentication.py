from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ListenerSession as Session
from accounts.models import SpotifyToken
from accounts.tests.helpers import log_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("accounts.tests.urls")]


@pytest.mark.parametrize("path", ["/needs-spotify", "/needs-spotify-too"])
def test_a_revoked_listener_is_logged_out_and_sent_to_login_with_a_message(
    client, fake_spotify, path
):
    log_in(client, "carol")
    assert client.get(path).content == b"fetched"
    session_key = client.session.session_key
    fake_spotify.revoke("carol")
    SpotifyToken.objects.update(expires_at=timezone.now() + timedelta(seconds=30))

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}"
    assert "no-store" in response["Cache-Control"]
    assert not Session.objects.filter(session_key=session_key).exists()
    assert "_auth_user_id" not in client.session
    login_page = client.get(response["Location"]).content.decode()
    assert "Please log in with Spotify again" in login_page
    # Logging in again brings the listener back where they were.
    again = log_in(client, "carol", next_url=path)
    assert again["Location"] == path
    assert client.get(path).content == b"fetched"
