"""Steering and watching the fake: the ``/_control/...`` endpoints and the call counters.

The endpoints are for other processes (the bench scripts, browser tests, a
shell); JSON in, JSON out, each mirroring the :class:`FakeSpotify` method of
the same name:

- ``POST /_control/reset`` ``{"tokens": false}``: faults, latency, rotation,
  allow-list, plays added and counters back to how the server started; with
  ``"tokens": true`` also forget every code and token.
- ``POST /_control/reset_counters``
- ``POST /_control/latency`` ``{"seconds": 0.1}``: added to every Web API and
  token call.
- ``POST /_control/fail_next``
  ``{"path": "/v1/me", "n": 1, "status": 429, "retry_after": 3, "reason": null}``
- ``POST /_control/hang_next`` ``{"path": "/v1/me", "n": 1, "seconds": 5}``
- ``POST /_control/malformed_next`` ``{"path": "/v1/me", "n": 1}``
- ``POST /_control/answer_next``
  ``{"path": "/v1/me", "n": 1, "status": 200, "headers": {...}, "body": "..."}``
  (or ``"body_base64"`` for bytes that are not UTF-8): exactly that answer.
- ``POST /_control/expire_access_tokens`` ``{"listener": "alice"}``
- ``POST /_control/revoke`` ``{"listener": "alice"}``
- ``POST /_control/rotation`` ``{"enabled": false}``
- ``POST /_control/allow`` ``{"listener": "alice", "allowed": false}``
- ``POST /_control/plays``
  ``{"listener": "alice", "n": 3, "played_at": ["2026-12-05T20:00:00.000Z"], "track_ids": [...]}``
  (every key but ``listener`` optional) -> ``{"plays": [{"played_at", "track_id", "uri",
  "name", "artist", "album", "duration_ms"}, ...]}``: the listener plays more.
- ``POST /_control/keep_listening`` ``{"seconds": 180}`` (or null): every listener plays a
  track that often.
- ``GET /_control/listeners`` -> ``{"listeners": [...]}``;
  ``POST /_control/listeners`` ``{"n": 100, "prefix": "listener"}`` ->
  ``{"added": [...]}``
- ``GET /_control/calls?path=/v1/me&listener=alice`` -> ``{"calls": 3}``
- ``GET /_control/max_concurrency?path=...&listener=...`` ->
  ``{"max_concurrency": 2}``
- ``GET /_control/issued_tokens`` -> ``{"tokens": [...]}``
- ``GET /_control/current_tokens?listener=alice`` ->
  ``{"access": [...], "refresh": [...]}``
- ``POST /_control/authorize_code``
  ``{"listener": "alice", "redirect_uri": "...", "scope": "..."}`` ->
  ``{"code": "fakeCODE-..."}``

Control calls are not counted and get no latency or faults. Bad input answers
``400 {"error": "..."}``, an unknown control 404.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from devtools.fakespotify.accounts import DEFAULT_SCOPE
from devtools.fakespotify.wire import Request, Response

if TYPE_CHECKING:
    from devtools.fakespotify.server import FakeSpotify

PREFIX = "/_control/"

Key = tuple[str | None, str | None]


class Counters:
    """Calls and calls in flight, per path, per listener, per both, and in all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: Counter = Counter()
        self._inflight: Counter = Counter()
        self._max_inflight: Counter = Counter()

    def enter(self, path: str, listener: str | None) -> list[Key]:
        """Count a call starting; pass what it returns to :meth:`leave` when it ends."""
        keys: list[Key] = [(None, None), (path, None)]
        if listener is not None:
            keys += [(None, listener), (path, listener)]
        with self._lock:
            for key in keys:
                self._calls[key] += 1
                self._inflight[key] += 1
                self._max_inflight[key] = max(self._max_inflight[key], self._inflight[key])
        return keys

    def leave(self, keys: list[Key]) -> None:
        with self._lock:
            for key in keys:
                self._inflight[key] -= 1

    def calls(self, path: str | None = None, listener: str | None = None) -> int:
        with self._lock:
            return self._calls[(path, listener)]

    def max_concurrency(self, path: str | None = None, listener: str | None = None) -> int:
        with self._lock:
            return self._max_inflight[(path, listener)]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            # In-flight counts stay: those requests will still finish.
            self._max_inflight = Counter(self._inflight)


def handle(fake: FakeSpotify, request: Request) -> Response:
    """Answer one ``/_control/...`` call by calling ``fake``'s method of that name."""
    name = request.path.removeprefix(PREFIX)
    try:
        payload = json.loads(request.body or b"{}") if request.method == "POST" else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        control = _controls(fake).get((request.method, name))
        if control is None:
            return Response.json(404, {"error": f"no control {request.method} {name}"})
        return Response.json(200, control(payload, request.query))
    except (KeyError, TypeError, ValueError) as exc:
        return Response.json(400, {"error": f"{type(exc).__name__}: {exc}"})


def _controls(fake: FakeSpotify) -> dict[tuple[str, str], Callable[[dict, dict], dict]]:
    def done(result=None):
        return {"ok": True} if result is None else result

    return {
        ("POST", "reset"): lambda p, q: done(fake.reset(tokens=bool(p.get("tokens")))),
        ("POST", "reset_counters"): lambda p, q: done(fake.reset_counters()),
        ("POST", "latency"): lambda p, q: done(fake.set_latency(p["seconds"])),
        ("POST", "fail_next"): lambda p, q: done(
            fake.fail_next(
                p["path"],
                p.get("n", 1),
                p.get("status", 500),
                p.get("retry_after"),
                p.get("reason"),
            )
        ),
        ("POST", "hang_next"): lambda p, q: done(
            fake.hang_next(p["path"], p.get("n", 1), p.get("seconds", 30))
        ),
        ("POST", "malformed_next"): lambda p, q: done(
            fake.malformed_next(p["path"], p.get("n", 1))
        ),
        ("POST", "answer_next"): lambda p, q: done(
            fake.answer_next(
                p["path"], p.get("n", 1), p.get("status", 200), p.get("headers"), _body(p)
            )
        ),
        ("POST", "expire_access_tokens"): lambda p, q: done(
            fake.expire_access_tokens(p["listener"])
        ),
        ("POST", "revoke"): lambda p, q: done(fake.revoke(p["listener"])),
        ("POST", "rotation"): lambda p, q: done(fake.set_rotation(p["enabled"])),
        ("POST", "allow"): lambda p, q: done(
            fake.set_allowed(p["listener"], p.get("allowed", True))
        ),
        ("POST", "plays"): lambda p, q: {
            "plays": fake.add_plays(
                p["listener"],
                int(p.get("n", 1)),
                [_moment(text) for text in p["played_at"]] if p.get("played_at") else None,
                p.get("track_ids"),
            )
        },
        ("POST", "keep_listening"): lambda p, q: done(fake.keep_listening(p.get("seconds"))),
        ("GET", "listeners"): lambda p, q: {"listeners": fake.listener_ids()},
        ("POST", "listeners"): lambda p, q: {
            "added": fake.add_listeners(int(p["n"]), p.get("prefix", "listener"))
        },
        ("GET", "calls"): lambda p, q: {"calls": fake.calls(q.get("path"), q.get("listener"))},
        ("GET", "max_concurrency"): lambda p, q: {
            "max_concurrency": fake.max_concurrency(q.get("path"), q.get("listener"))
        },
        ("GET", "issued_tokens"): lambda p, q: {"tokens": fake.issued_tokens()},
        ("GET", "current_tokens"): lambda p, q: fake.current_tokens(q["listener"]),
        ("POST", "authorize_code"): lambda p, q: {
            "code": fake.authorize_code(
                p["listener"], p["redirect_uri"], p.get("scope", DEFAULT_SCOPE)
            )
        },
    }


def _moment(text: str) -> datetime:
    """An ISO 8601 time; UTC when it names no zone (ValueError: 400)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _body(payload: dict) -> bytes | str:
    """``body`` (text) or ``body_base64`` (any bytes) of an answer_next call."""
    if "body_base64" in payload:
        return base64.b64decode(payload["body_base64"], validate=True)  # binascii.Error: 400
    return payload.get("body", "")
