"""The fake's accounts service: /authorize and /api/token."""

from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.fakespotify.server import FakeSpotify

REDIRECT = "http://127.0.0.1:8000/callback"


def redirect_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {
        key: values[0]
        for key, values in parse_qs(urlsplit(response.headers["Location"]).query).items()
    }


def code_for(http, listener="alice", **params) -> str:
    return redirect_params(http.authorize(listener=listener, **params))["code"]


def exchange(http, code, redirect_uri=REDIRECT, **kwargs):
    return http.token(
        grant_type="authorization_code", code=code, redirect_uri=redirect_uri, **kwargs
    )


def test_authorize_shows_a_consent_page_listing_the_demo_listeners(http):
    page = http.authorize()

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Fake Spotify — demo data" in page.text
    for listener in ("alice", "bob", "legacy", "nameless", "stranger"):
        assert f'name="listener" value="{listener}"' in page.text
    assert 'name="decline"' in page.text
    assert '<input type="hidden" name="state" value="s1">' in page.text


def test_the_consent_page_escapes_names_and_works_under_a_strict_csp(http):
    page = http.authorize(state='"><script>x</script>')

    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # no script at all
    assert "unsafe-inline" not in csp


def test_the_consent_page_buttons_post_back_and_redirect_with_a_code(http):
    approved = http.authorize("POST", listener="bob", state="from-the-page")

    params = redirect_params(approved)
    assert params["code"].startswith("fakeCODE-")
    assert params["state"] == "from-the-page"
    assert approved.headers["Location"].startswith(REDIRECT + "?")


def test_cancel_on_the_consent_page_redirects_with_access_denied(http):
    declined = http.authorize("POST", decline="1", state="st")

    assert redirect_params(declined) == {"error": "access_denied", "state": "st"}


def test_tests_can_skip_the_page_by_naming_a_listener(http):
    assert code_for(http, "carol").startswith("fakeCODE-")


def test_decline_param_declines_without_the_page(http):
    declined = http.authorize(listener="", decline="1")

    assert redirect_params(declined)["error"] == "access_denied"


@pytest.mark.parametrize("state", ["a b&c=d/é?#%", "+plus+", "🎧", ""])
def test_state_comes_back_byte_for_byte(http, state):
    params = redirect_params(http.authorize(listener="alice", state=state))

    assert params.get("state", "") == state


def test_the_code_is_appended_to_a_redirect_uri_that_has_a_query(http):
    response = http.authorize(listener="alice", redirect_uri="https://example.com/cb?x=1")

    assert response.headers["Location"].startswith("https://example.com/cb?x=1&code=")


def test_an_unknown_client_gets_an_error_page_not_a_redirect(http):
    response = http.authorize(client_id="someone-else", listener="alice")

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "INVALID_CLIENT: Invalid client" in response.text


@pytest.mark.parametrize("redirect_uri", [None, "ftp://example.com/cb", "not a url"])
def test_an_unusable_redirect_uri_gets_an_error_page(http, redirect_uri):
    response = http.authorize(redirect_uri=redirect_uri, listener="alice")

    assert response.status_code == 400
    assert "Invalid redirect URI" in response.text


def test_only_registered_redirect_uris_are_accepted_when_a_list_is_given():
    import requests

    with FakeSpotify(redirect_uris=[REDIRECT]) as fake, requests.Session() as session:
        params = {"client_id": fake.client_id, "response_type": "code", "listener": "alice"}
        url = f"{fake.auth_base_url}/authorize"
        good = session.get(url, params=params | {"redirect_uri": REDIRECT}, allow_redirects=False)
        bad = session.get(
            url, params=params | {"redirect_uri": REDIRECT + "/"}, allow_redirects=False
        )

    assert good.status_code == 302
    assert bad.status_code == 400


def test_a_wrong_response_type_redirects_with_unsupported_response_type(http):
    response = http.authorize(response_type="token", state="q")

    assert redirect_params(response) == {"error": "unsupported_response_type", "state": "q"}


def test_a_code_is_exchanged_for_recognisable_tokens(http):
    answer = exchange(http, code_for(http, scope="user-top-read user-read-private"))

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "scope", "expires_in", "refresh_token"}
    assert body["access_token"].startswith("fakeAT-")
    assert body["refresh_token"].startswith("fakeRT-")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "user-top-read user-read-private"


def test_client_credentials_may_come_as_form_fields(http):
    answer = exchange(
        http,
        code_for(http),
        auth=False,
        client_id=http.fake.client_id,
        client_secret=http.fake.client_secret,
    )

    assert answer.status_code == 200


@pytest.mark.parametrize(
    "auth", [("euterpe-demo-client", "wrong"), ("unknown", "euterpe-demo-secret"), False]
)
def test_bad_client_credentials_are_invalid_client(http, auth):
    answer = exchange(http, code_for(http), auth=auth)

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_client", "error_description": "Invalid client"}


def test_a_code_works_only_once(http):
    code = code_for(http)
    assert exchange(http, code).status_code == 200

    replay = exchange(http, code)

    assert replay.status_code == 400
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid authorization code",
    }


def test_an_unknown_code_is_invalid_grant(http):
    answer = exchange(http, "fakeCODE-never-issued")

    assert answer.json()["error"] == "invalid_grant"


def test_the_redirect_uri_must_match_the_one_used_at_authorize(http):
    answer = exchange(http, code_for(http), redirect_uri="http://127.0.0.1:8000/other")

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "Invalid redirect URI"}


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "authorization_code", "redirect_uri": REDIRECT},
        {"grant_type": "authorization_code", "code": "fakeCODE-x"},
        {"grant_type": "refresh_token"},
    ],
)
def test_missing_parameters_are_invalid_request(http, form):
    answer = http.token(**form)

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize("grant_type", [None, "password", "client_credentials"])
def test_a_missing_or_unknown_grant_type_is_unsupported(http, grant_type):
    form = {"grant_type": grant_type} if grant_type else {}
    answer = http.token(**form)

    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


def test_refreshing_with_rotation_returns_a_new_refresh_token_and_kills_the_old(
    http, spotify_login
):
    old = spotify_login("alice")["refresh_token"]

    answer = http.token(grant_type="refresh_token", refresh_token=old)

    assert answer.status_code == 200
    body = answer.json()
    assert body["access_token"].startswith("fakeAT-")
    assert body["refresh_token"].startswith("fakeRT-")
    assert body["refresh_token"] != old
    again = http.token(grant_type="refresh_token", refresh_token=old)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    newest = http.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert newest.status_code == 200


def test_refreshing_without_rotation_keeps_the_old_refresh_token_alive(http, spotify_login):
    old = spotify_login("alice")["refresh_token"]
    http.fake.set_rotation(False)

    first = http.token(grant_type="refresh_token", refresh_token=old)
    second = http.token(grant_type="refresh_token", refresh_token=old)

    assert first.status_code == second.status_code == 200
    assert "refresh_token" not in first.json()
    assert first.json()["access_token"] != second.json()["access_token"]


def test_an_unknown_refresh_token_is_invalid_grant(http):
    answer = http.token(grant_type="refresh_token", refresh_token="fakeRT-unknown")

    assert answer.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}


def test_a_listener_off_the_allow_list_still_completes_oauth(spotify_login):
    tokens = spotify_login("stranger")

    assert tokens["access_token"].startswith("fakeAT-")
