"""The admin's listener list: its token-status columns cost no query per listener."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import SpotifyToken

pytestmark = pytest.mark.django_db

User = get_user_model()


def add_listeners(count, start):
    """``count`` listeners with tokens, some refreshed, some not."""
    for number in range(start, start + count):
        user = User.objects.create_user(f"listener-{number}", first_name=f"Listener {number}")
        SpotifyToken.objects.create(
            user=user,
            access_token=f"access-{number}",
            refresh_token=f"refresh-{number}",
            expires_at=timezone.now() + timedelta(minutes=number),
            last_refreshed_at=timezone.now() if number % 2 else None,
        )
    User.objects.create_user(f"no-token-{start}")  # and one without


def queries_of_the_list(client, django_assert_max_num_queries, order):
    with django_assert_max_num_queries(50) as captured:
        response = client.get(f"/admin/auth/user/{order}")
    assert response.status_code == 200
    return response, len(captured.captured_queries)


# As listed, sorted by "Connected", by token expiry (descending), by last refresh then name.
@pytest.mark.parametrize("order", ["", "?o=4", "?o=-5", "?o=6.1"])
def test_the_listener_list_makes_as_many_queries_for_ten_listeners_as_for_two(
    client, django_assert_max_num_queries, order
):
    admin = User.objects.create_superuser("operator", password="correct horse battery")
    client.force_login(admin)
    add_listeners(2, start=0)
    _, few = queries_of_the_list(client, django_assert_max_num_queries, order)

    add_listeners(8, start=100)
    response, many = queries_of_the_list(client, django_assert_max_num_queries, order)

    assert many == few
    html = response.content.decode()
    assert html.count('class="action-select"') == 2 + 1 + 8 + 1 + 1  # listeners + the admin
    assert "Listener 107" in html
