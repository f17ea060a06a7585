"""A listener's sessions on every device: ended by "Log out everywhere", by
disconnecting and by an admin deleting the user; nothing of them stays stored."""

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.base import UpdateError

from accounts.models import ListenerSession, SpotifyToken
from accounts.sessions import SessionStore
from accounts.tests.helpers import browser, log_in

pytestmark = pytest.mark.django_db

User = get_user_model()


def stored(session_key):
    """Whether the session store still holds this session (whatever engine is in use)."""
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(session_key)


def devices(listener, count=2):
    """``count`` browsers, each logged in as ``listener``; with their session keys."""
    browsers = [browser() for _ in range(count)]
    for each in browsers:
        log_in(each, listener)
        assert each.get("/health").json()["authenticated"] is True
    return browsers, [each.session.session_key for each in browsers]


def test_disconnect_ends_the_listeners_sessions_on_every_device(fake_spotify):
    (laptop, phone), keys = devices("alice")
    (bobs,), (bobs_key,) = devices("bob", 1)

    laptop.post("/disconnect")

    assert phone.get("/health").json()["authenticated"] is False
    assert not any(stored(key) for key in keys)
    assert stored(bobs_key)
    assert bobs.get("/health").json()["user"] == "Bob Builder"


def test_log_out_everywhere_ends_every_session_and_keeps_the_data(fake_spotify):
    (laptop, phone), keys = devices("alice")
    (bobs,), (bobs_key,) = devices("bob", 1)

    response = laptop.post("/logout/everywhere", follow=True)

    assert response.redirect_chain[-1] == ("/login", 302)
    assert "You are logged out on every device" in response.content.decode()
    assert laptop.get("/health").json()["authenticated"] is False
    assert phone.get("/health").json()["authenticated"] is False
    assert not any(stored(key) for key in keys)
    alice = User.objects.get(username="alice")
    assert SpotifyToken.objects.filter(user=alice).exists()
    assert stored(bobs_key)
    assert bobs.get("/health").json()["authenticated"] is True


def test_logging_in_again_after_log_out_everywhere_finds_the_same_listener(fake_spotify):
    (laptop,), _ = devices("alice", 1)
    alice = User.objects.get(username="alice")
    laptop.post("/logout/everywhere")

    log_in(laptop, "alice")

    assert int(laptop.session["_auth_user_id"]) == alice.pk


def test_log_out_everywhere_needs_a_csrf_token(fake_spotify):
    (laptop, _), keys = devices("alice")
    strict = browser(enforce_csrf_checks=True)
    strict.cookies = laptop.cookies

    assert strict.post("/logout/everywhere").status_code == 403
    assert all(stored(key) for key in keys)


def test_log_out_everywhere_is_a_post_only(fake_spotify):
    (laptop,), (key,) = devices("alice", 1)

    assert laptop.get("/logout/everywhere").status_code == 405
    assert stored(key)


def test_log_out_everywhere_without_a_login_goes_to_the_login_page(client):
    response = client.post("/logout/everywhere")

    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_the_privacy_page_offers_log_out_everywhere_to_a_listener(fake_spotify):
    (laptop,), _ = devices("alice", 1)

    page = laptop.get("/privacy").content.decode()

    assert '<form method="post" action="/logout/everywhere">' in page
    assert "csrfmiddlewaretoken" in page
    assert "every device" in page


def test_the_logout_page_offers_log_out_everywhere(fake_spotify):
    (laptop,), _ = devices("alice", 1)

    page = laptop.get("/logout").content.decode()

    assert '<form method="post" action="/logout/everywhere">' in page


def test_an_admin_deleting_a_user_ends_their_sessions(client, fake_spotify):
    _, keys = devices("alice")
    alice = User.objects.get(username="alice")
    client.force_login(User.objects.create_superuser("operator", password="correct horse battery"))

    client.post(f"/admin/auth/user/{alice.pk}/delete/", {"post": "yes"})

    assert not User.objects.filter(pk=alice.pk).exists()
    assert not any(stored(key) for key in keys)


def test_an_admin_deleting_selected_users_ends_their_sessions(client, fake_spotify):
    _, alices = devices("alice", 1)
    _, bobs_keys = devices("bob", 1)
    _, (carols_key,) = devices("carol", 1)
    selected = list(User.objects.filter(username__in=["alice", "bob"]).values_list("pk", flat=True))
    client.force_login(User.objects.create_superuser("operator", password="correct horse battery"))

    client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
    )

    assert not any(stored(key) for key in alices + bobs_keys)
    assert stored(carols_key)


def test_an_admin_disconnecting_a_listener_ends_their_sessions(client, fake_spotify):
    _, keys = devices("alice")
    alice = User.objects.get(username="alice")
    client.force_login(User.objects.create_superuser("operator", password="correct horse battery"))

    client.post(
        "/admin/auth/user/", {"action": "disconnect_listeners", "_selected_action": [alice.pk]}
    )

    assert not any(stored(key) for key in keys)


@pytest.mark.django_db(transaction=True)
def test_a_session_of_a_deleted_user_is_never_saved_again():
    """A request still running when its listener disconnected must not bring their
    session back: Django's middleware answers UpdateError with a 400, never a 500."""
    user = User.objects.create_user("gone")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session.save()
    cycled = SessionStore(session.session_key)
    assert cycled[SESSION_KEY] == str(user.pk)

    user.delete()

    session["still"] = "here"
    with pytest.raises(UpdateError):
        session.save()
    with pytest.raises(UpdateError):
        cycled.cycle_key()  # a new row under a new key, for the deleted user
    assert not ListenerSession.objects.exists()


def test_a_session_knows_whose_it_is(fake_spotify):
    _, (key,) = devices("alice", 1)
    anonymous = browser()
    anonymous.get("/login")

    assert ListenerSession.objects.get(session_key=key).user == User.objects.get(username="alice")
    assert ListenerSession.objects.exclude(session_key=key).filter(user__isnull=False).count() == 0


# Who is logged in comes from the session's own query (accounts.sessions.user_loaded_with):
# every check Django's auth.get_user makes still holds.


def test_the_session_brings_its_user_in_one_query(fake_spotify, django_assert_num_queries):
    (laptop,), _ = devices("alice", 1)

    with django_assert_num_queries(1) as captured:
        answer = laptop.get("/health").json()

    assert answer == {"status": "healthy", "authenticated": True, "user": "Alice Liddell"}
    assert "auth_user" in captured.captured_queries[0]["sql"]


def test_a_deactivated_listener_is_logged_out(fake_spotify):
    (laptop,), _ = devices("alice", 1)

    User.objects.filter(username="alice").update(is_active=False)

    assert laptop.get("/health").json()["authenticated"] is False
    assert laptop.get("/")["Location"].startswith("/login")


def test_a_session_from_before_a_password_change_ends(fake_spotify):
    (laptop,), (key,) = devices("alice", 1)
    alice = User.objects.get(username="alice")

    alice.set_password("a new password for the admin")
    alice.save()

    assert laptop.get("/health").json()["authenticated"] is False
    assert not stored(key)  # Django's own path flushed it


def test_a_session_signed_under_a_fallback_secret_key_stays_and_moves_to_the_new_key(
    fake_spotify, settings
):
    (laptop,), (old_key,) = devices("alice", 1)

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-test-only-0123456789"

    assert laptop.get("/health").json()["user"] == "Alice Liddell"
    new_key = laptop.session.session_key
    assert new_key != old_key and not stored(old_key)
    assert laptop.get("/health").json()["user"] == "Alice Liddell"


def test_the_user_is_the_one_the_session_data_names_not_the_column(fake_spotify):
    (laptop,), (key,) = devices("alice", 1)
    devices("bob", 1)
    # Only Euterpe writes the column, from the data; were they ever to differ, the
    # data decides, as it does for Django.
    ListenerSession.objects.filter(session_key=key).update(user=User.objects.get(username="bob"))

    assert laptop.get("/health").json()["user"] == "Alice Liddell"
