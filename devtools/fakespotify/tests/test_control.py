"""Controlling the fake: faults, latency, counters, tokens; Python API and HTTP."""

import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection

import pytest
import requests

from devtools.fakespotify.server import FakeSpotify


def test_fail_next_answers_429_with_retry_after_then_recovers(http, alice_token):
    http.fake.fail_next("/v1/me/top/tracks", n=2, status=429, retry_after=7)

    first = http.api("/me/top/tracks", alice_token)
    second = http.api("/me/top/tracks", alice_token)
    third = http.api("/me/top/tracks", alice_token)

    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert first.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    assert third.status_code == 200


def test_fail_next_only_hits_the_exact_path(http, alice_token):
    http.fake.fail_next("/v1/me/top/tracks", status=500)

    assert http.api("/me/top/artists", alice_token).status_code == 200
    assert http.api("/me", alice_token).status_code == 200
    assert http.api("/me/top/tracks", alice_token).status_code == 500


def test_a_quota_429_carries_the_reason_and_may_lack_retry_after(http, alice_token):
    http.fake.fail_next("/v1/me", status=429, reason="QUOTA_EXCEEDED")

    response = http.api("/me", alice_token)

    assert "Retry-After" not in response.headers
    assert response.json()["error"]["reason"] == "QUOTA_EXCEEDED"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fail_next_gives_server_errors_in_spotifys_shape(http, alice_token, status):
    http.fake.fail_next("/v1/me/playlists", status=status)

    response = http.api("/me/playlists", alice_token)

    assert response.status_code == status
    assert response.json()["error"]["status"] == status


def test_fail_next_works_on_the_token_endpoint(http, spotify_login):
    refresh = spotify_login("alice")["refresh_token"]
    http.fake.fail_next("/api/token", status=503)

    failed = http.token(grant_type="refresh_token", refresh_token=refresh)
    retried = http.token(grant_type="refresh_token", refresh_token=refresh)

    assert failed.status_code == 503
    assert "error" in failed.json()
    assert retried.status_code == 200


def test_malformed_next_answers_200_with_a_body_that_is_not_json(http, alice_token):
    http.fake.malformed_next("/v1/me")

    response = http.api("/me", alice_token)

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert http.api("/me", alice_token).json()["id"] == "alice"


def test_answer_next_answers_exactly_what_it_is_given_then_recovers(http, alice_token):
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    http.fake.answer_next("/v1/me/top/tracks", status=203, headers=headers, body='{"items": []}')

    raw = http.session.get(
        f"{http.fake.api_base_url}/me/top/tracks",
        headers={"Authorization": f"Bearer {alice_token}"},
        stream=True,  # read the body as sent, not gunzipped
        timeout=10,
    )

    assert raw.status_code == 203
    assert raw.headers["Content-Encoding"] == "gzip"
    assert raw.headers["Content-Type"] == "application/json"
    assert raw.raw.read() == b'{"items": []}'
    assert http.fake.calls("/v1/me/top/tracks", "alice") == 1
    assert http.api("/me/top/tracks", alice_token).json()["items"]


def test_answer_next_sends_no_header_it_was_not_given(http, alice_token):
    http.fake.answer_next("/v1/me", n=2, status=429, body=b"\xff")

    first, second = http.api("/me", alice_token), http.api("/me", alice_token)

    assert first.status_code == second.status_code == 429
    assert "Content-Type" not in first.headers
    assert "Retry-After" not in first.headers
    assert first.content == b"\xff"
    assert http.api("/me", alice_token).status_code == 200


def test_answer_next_refuses_what_would_break_http(fake_spotify_clean):
    fake = fake_spotify_clean
    with pytest.raises(ValueError):
        fake.answer_next("/v1/me", status=101)
    with pytest.raises(ValueError):
        fake.answer_next("/v1/me", headers={"Content-Length": "3"})
    with pytest.raises(ValueError):
        fake.answer_next("/v1/me", headers={"X-Split": "a\r\nSet-Cookie: b"})
    with pytest.raises(ValueError):
        fake.answer_next("/v1/me", headers={"Retry-After": "٣"})  # not Latin-1
    with pytest.raises(TypeError):
        fake.answer_next("/v1/me", headers={"Retry-After": 3})


def test_a_hanging_call_does_not_stall_others(http, alice_token):
    http.fake.hang_next("/v1/me", seconds=30)

    with pytest.raises(requests.Timeout):
        http.session.get(
            f"{http.fake.api_base_url}/me",
            headers={"Authorization": f"Bearer {alice_token}"},
            timeout=(3, 0.5),
        )
    # The hung handler is still sleeping; other calls are answered meanwhile.
    assert http.api("/me/top/artists", alice_token).status_code == 200
    assert http.api("/me", alice_token).status_code == 200


def test_concurrent_calls_are_served_concurrently(http, alice_token):
    http.fake.set_latency(0.5)
    headers = {"Authorization": f"Bearer {alice_token}"}

    def call(_):
        return requests.get(f"{http.fake.api_base_url}/me", headers=headers, timeout=10)

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [response.status_code for response in pool.map(call, range(4))]

    assert statuses == [200] * 4
    assert http.fake.max_concurrency("/v1/me") >= 2
    assert http.fake.max_concurrency("/v1/me", "alice") >= 2
    assert http.fake.max_concurrency("/v1/me", "bob") == 0


def test_calls_are_counted_per_path_and_listener(http, alice_token, spotify_login):
    bob = spotify_login("bob")["access_token"]
    http.fake.reset_counters()

    http.api("/me", alice_token)
    http.api("/me", alice_token)
    http.api("/me/top/tracks", bob)
    http.api("/me")  # no token: counted under no listener

    assert http.fake.calls("/v1/me", "alice") == 2
    assert http.fake.calls("/v1/me") == 3
    assert http.fake.calls(listener="bob") == 1
    assert http.fake.calls() == 4


def test_token_calls_are_counted_under_the_listener_of_the_code_or_refresh_token(
    http, spotify_login
):
    refresh = spotify_login("carol")["refresh_token"]
    http.fake.reset_counters()

    http.token(grant_type="refresh_token", refresh_token=refresh)

    assert http.fake.calls("/api/token", "carol") == 1


def test_reset_forgets_faults_latency_and_counters_but_keeps_tokens(http, alice_token):
    http.api("/me/top/tracks", alice_token)
    http.fake.fail_next("/v1/me", n=3, status=500)
    http.fake.set_latency(5)
    http.fake.set_rotation(False)

    http.fake.reset()

    assert http.fake.calls() == 0
    assert http.api("/me", alice_token).status_code == 200
    assert alice_token in http.fake.current_tokens("alice")["access"]


def test_reset_with_tokens_forgets_every_token(http, alice_token):
    http.fake.reset(tokens=True)

    assert http.fake.issued_tokens() == []
    assert http.api("/me", alice_token).status_code == 401


def test_issued_and_current_tokens_track_every_grant(http, spotify_login):
    first = spotify_login("bob")
    refreshed = http.token(grant_type="refresh_token", refresh_token=first["refresh_token"]).json()

    issued = http.fake.issued_tokens()
    current = http.fake.current_tokens("bob")

    for token in (first["access_token"], first["refresh_token"], refreshed["refresh_token"]):
        assert token in issued
    assert refreshed["access_token"] in current["access"]
    assert current["refresh"][-1] == refreshed["refresh_token"]
    assert first["refresh_token"] not in current["refresh"]


def test_authorize_code_makes_a_code_without_http(http):
    code = http.fake.authorize_code("alice", "https://example.com/cb")

    answer = http.token(
        grant_type="authorization_code", code=code, redirect_uri="https://example.com/cb"
    )

    assert answer.status_code == 200


def test_unknown_listeners_are_refused_by_the_control_api(fake_spotify_clean):
    with pytest.raises(ValueError):
        fake_spotify_clean.revoke("nobody")


def test_add_listeners_creates_listeners_who_can_log_in(http, spotify_login):
    ids = http.fake.add_listeners(3, prefix="gen")

    token = spotify_login(ids[-1])["access_token"]

    assert ids[0] == "gen-0001"
    assert http.api("/me", token).json()["display_name"].startswith("Listener ")
    assert len(http.api("/me/top/tracks", token, limit=50).json()["items"]) == 50


# --- the same over HTTP ------------------------------------------------------


def test_the_http_control_endpoints_drive_faults_and_counters(http, alice_token):
    assert http.control("fail_next", path="/v1/me", n=1, status=429, retry_after=2).ok
    assert http.api("/me", alice_token).headers["Retry-After"] == "2"
    assert http.control("hang_next", path="/v1/me/playlists", n=1, seconds=0.01).ok
    assert http.control("malformed_next", path="/v1/me/top/tracks").ok
    assert http.control("latency", seconds=0).ok

    calls = http.control("calls", "GET", path="/v1/me", listener="alice").json()
    concurrency = http.control("max_concurrency", "GET", path="/v1/me").json()

    assert calls == {"calls": 1}
    assert concurrency == {"max_concurrency": 1}
    assert http.control("reset_counters").ok
    assert http.control("calls", "GET").json() == {"calls": 0}


def test_the_http_control_endpoints_manage_tokens_and_listeners(http, spotify_login):
    tokens = spotify_login("bob")

    current = http.control("current_tokens", "GET", listener="bob").json()
    assert tokens["access_token"] in current["access"]
    assert tokens["refresh_token"] in http.control("issued_tokens", "GET").json()["tokens"]
    assert http.control("expire_access_tokens", listener="bob").ok
    assert http.api("/me", tokens["access_token"]).status_code == 401
    assert http.control("rotation", enabled=False).ok
    refreshed = http.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert "refresh_token" not in refreshed.json()
    assert http.control("revoke", listener="bob").ok
    assert http.control("allow", listener="bob", allowed=False).ok
    code = http.control("authorize_code", listener="carol", redirect_uri="https://x.test/cb")
    assert code.json()["code"].startswith("fakeCODE-")
    added = http.control("listeners", n=2, prefix="ctl").json()["added"]
    assert set(added) <= set(http.control("listeners", "GET").json()["listeners"])
    assert http.control("reset", tokens=True).ok
    assert http.fake.issued_tokens() == []


def test_the_http_answer_next_control_takes_text_or_base64_bodies(http, alice_token):
    retry_after = {"Content-Type": "application/json", "Retry-After": "²"}
    assert http.control("answer_next", path="/v1/me", status=429, headers=retry_after).ok
    assert http.control("answer_next", path="/v1/me/playlists", body_base64="AP8=").ok

    odd = http.api("/me", alice_token)
    binary = http.api("/me/playlists", alice_token)

    assert odd.status_code == 429
    assert odd.headers["Retry-After"] == "²"  # http.server sends headers as Latin-1
    assert odd.content == b""
    assert binary.status_code == 200
    assert binary.content == b"\x00\xff"


def test_bad_control_input_is_400_and_unknown_controls_404(http):
    assert http.control("fail_next", path="/v1/me", status=200).status_code == 400
    assert http.control("revoke", listener="nobody").status_code == 400
    assert http.control("latency").status_code == 400
    assert http.control("answer_next", path="/v1/me", body_base64="not base64").status_code == 400
    assert http.control("self_destruct").status_code == 404


# --- transport ---------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(fake_spotify_clean):
    connection = HTTPConnection("127.0.0.1", fake_spotify_clean.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/v1/me")
            response = connection.getresponse()
            assert response.version == 11
            assert int(response.headers["Content-Length"]) == len(response.read())
            assert response.status == 401
        assert connection.sock is not None  # still the first connection
    finally:
        connection.close()


def test_the_fake_runs_as_a_context_manager_on_a_free_port():
    with FakeSpotify() as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert fake.api_base_url == fake.base_url + "/v1"
        assert fake.auth_base_url == fake.base_url
        assert requests.get(fake.base_url + "/", timeout=10).status_code == 200


def test_plays_added_by_the_control_move_recently_played_on_and_respect_after(http, alice_token):
    before = http.api("/me/player/recently-played", alice_token, limit=50).json()
    newest = int(before["cursors"]["after"])

    answer = requests.post(
        f"{http.fake.base_url}/_control/plays", json={"listener": "alice", "n": 3}, timeout=10
    )
    added = answer.json()["plays"]
    after = http.api("/me/player/recently-played", alice_token, after=newest).json()

    assert answer.status_code == 200 and len(added) == 3
    assert [item["played_at"] for item in after["items"]] == [
        play["played_at"] for play in reversed(added)
    ]
    assert [item["track"]["uri"] for item in after["items"]] == [
        play["uri"] for play in reversed(added)
    ]
    assert all(play["duration_ms"] > 30_000 for play in added)
    # Nothing after the newest.
    last = int(after["cursors"]["after"])
    assert http.api("/me/player/recently-played", alice_token, after=last).json()["items"] == []


def test_plays_at_given_moments_of_given_tracks(http, alice_token):
    track = http.fake.listener("alice").plays[0].track
    answer = requests.post(
        f"{http.fake.base_url}/_control/plays",
        json={
            "listener": "alice",
            "played_at": ["2026-12-01T10:00:00.250Z", "2026-12-01T10:05:00Z"],
            "track_ids": [track.id],
        },
        timeout=10,
    )

    assert [(p["played_at"], p["track_id"]) for p in answer.json()["plays"]] == [
        ("2026-12-01T10:00:00.250Z", track.id),
        ("2026-12-01T10:05:00.000Z", track.id),
    ]
    bad = requests.post(
        f"{http.fake.base_url}/_control/plays",
        json={"listener": "alice", "track_ids": ["not-hers"]},
        timeout=10,
    )
    assert bad.status_code == 400


def test_in_demo_mode_listeners_keep_listening(http, alice_token):
    newest = int(
        http.api("/me/player/recently-played", alice_token, limit=1).json()["cursors"]["after"]
    )
    http.fake.keep_listening(0.05)
    deadline = time.monotonic() + 30
    items = []
    while not items and time.monotonic() < deadline:
        items = http.api("/me/player/recently-played", alice_token, after=newest).json()["items"]
    http.fake.keep_listening(None)

    assert items  # time passed, so alice played more
    assert http.fake.listener("alice").plays  # what she played before is still there
