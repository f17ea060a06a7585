"""A listener deleted anywhere forgets their cached Spotify data (spotify_stats.receivers)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from social_django.models import UserSocialAuth

from accounts.models import SpotifyToken
from spotify_stats.cache import listener_keys, section_key

User = get_user_model()


def cached_profiles(*users):
    for user in users:
        cache.set(section_key(user.pk, "profile"), f"{user.username}'s cached profile")


def cached_profile(user_id):
    return cache.get(section_key(user_id, "profile"))


@pytest.mark.django_db(transaction=True)
def test_a_user_deleted_through_the_orm_forgets_their_cache(make_listener):
    """As in `manage.py shell`: no view, no admin, autocommit, a real commit."""
    alice, bob = make_listener("alice"), make_listener("bob")
    cached_profiles(alice, bob)
    cache.set(section_key(alice.pk, "top_tracks", "short_term"), "alice's top tracks")

    User.objects.filter(username="alice").delete()

    assert cache.get_many(listener_keys(alice.pk)) == {}
    assert cached_profile(bob.pk) == "bob's cached profile"


def test_a_deletion_that_rolls_back_keeps_the_cache(
    make_listener, django_capture_on_commit_callbacks
):
    alice = make_listener("alice")
    alice_id = alice.pk
    cached_profiles(alice)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        alice.delete()
        raise RuntimeError("the deletion fails later on")

    assert callbacks == []
    assert User.objects.filter(pk=alice_id).exists()
    assert cached_profile(alice_id) == "alice's cached profile"


def test_the_cache_goes_only_once_the_deletion_commits(
    make_listener, django_capture_on_commit_callbacks
):
    alice = make_listener("alice")
    alice_id = alice.pk
    cached_profiles(alice)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        alice.delete()
        still_cached = cached_profile(alice_id)
    for callback in callbacks:
        callback()

    assert still_cached == "alice's cached profile"
    assert len(callbacks) == 1
    assert cached_profile(alice_id) is None


def test_disconnecting_forgets_the_cache(browser_for, django_capture_on_commit_callbacks):
    alice = browser_for("alice")
    user = User.objects.get(username="alice")
    cached_profiles(user)

    with django_capture_on_commit_callbacks(execute=True):
        alice.post("/disconnect")

    assert not User.objects.filter(username="alice").exists()
    assert cached_profile(user.pk) is None


def test_deleting_selected_users_in_the_admin_forgets_their_cached_spotify_data(
    client, make_listener, django_capture_on_commit_callbacks
):
    alice, bob, carol = (make_listener(name) for name in ("alice", "bob", "carol"))
    cached_profiles(alice, bob, carol)
    client.force_login(User.objects.create_superuser("operator", password="correct horse battery"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/auth/user/",
            {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk], "post": "yes"},
            follow=True,
        )

    assert response.status_code == 200
    assert not User.objects.filter(username__in=["alice", "bob"]).exists()
    for gone in (alice, bob):
        assert cached_profile(gone.pk) is None
        assert not SpotifyToken.objects.filter(user_id=gone.pk).exists()
        assert not UserSocialAuth.objects.filter(user_id=gone.pk).exists()
    assert cached_profile(carol.pk) == "carol's cached profile"


def test_deleting_a_user_on_its_admin_page_forgets_their_cached_spotify_data(
    client, make_listener, django_capture_on_commit_callbacks
):
    alice, bob = make_listener("alice"), make_listener("bob")
    cached_profiles(alice, bob)
    client.force_login(User.objects.create_superuser("operator", password="correct horse battery"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/auth/user/{alice.pk}/delete/", {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert not User.objects.filter(username="alice").exists()
    assert cached_profile(alice.pk) is None
    assert cached_profile(bob.pk) == "bob's cached profile"
