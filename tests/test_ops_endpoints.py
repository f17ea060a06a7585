"""GET /health and GET /db_check."""

import pytest
from django.contrib.auth.models import User

BEARER = {"Authorization": "Bearer test-ops-token-0123456789-abcdefghij"}


@pytest.mark.smoke
def test_health_answers_for_an_anonymous_visitor(client, db):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "authenticated": False, "user": None}


def test_health_names_a_logged_in_listener_by_display_name(client, db):
    client.force_login(User.objects.create_user("spotify-ada", first_name="Ada Lovelace"))

    response = client.get("/health")

    assert response.json() == {"status": "healthy", "authenticated": True, "user": "Ada Lovelace"}


def test_health_is_served_over_plain_http_for_the_router_check(db):
    from django.test import Client

    assert Client().get("/health").status_code == 200


def test_db_check_refuses_an_anonymous_visitor(client, db):
    response = client.get("/db_check")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="euterpe"'
    assert "tables" not in response.json()


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Bearer ", "Bearer test-ops-toke"])
def test_db_check_refuses_a_wrong_token(client, db, header):
    response = client.get("/db_check", headers={"Authorization": header})

    assert response.status_code == 403
    assert "tables" not in response.json()


def test_db_check_answers_the_ops_token(client, db):
    response = client.get("/db_check", headers=BEARER)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["schema"] == "euterpe"
    assert body["public_safety_check"] == "passed"
    assert {"auth_user", "django_session", "euterpe_cache"} <= set(body["tables"])
    assert body["users_count"] == 0


def test_db_check_answers_a_staff_session(client, db):
    client.force_login(User.objects.create_user("ops", is_staff=True))

    response = client.get("/db_check")

    assert response.status_code == 200
    assert response.json()["users_count"] == 1


def test_db_check_refuses_a_listener_who_is_not_staff(client, db):
    client.force_login(User.objects.create_user("spotify-ada"))

    response = client.get("/db_check")

    assert response.status_code == 403


@pytest.mark.parametrize(
    "header", ["Bearer ", "Bearer", "Bearer test-ops-token-0123456789-abcdefghij"]
)
def test_an_unset_ops_token_matches_nothing(client, db, settings, header):
    settings.OPS_TOKEN = ""

    response = client.get("/db_check", headers={"Authorization": header})

    assert response.status_code in {401, 403}
    assert "tables" not in response.json()


def test_favicon_ico_leads_to_the_site_icon(client, db):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/img/euterpe.svg"
    assert finders.find("img/euterpe.svg")
