"""A fake Spotify (accounts service + the Web API endpoints Euterpe uses).

Standard library only, no Django: it runs in-process for tests
(``FakeSpotify().start()``) or as its own process for local runs and bench
scripts (``python -m devtools.fakespotify --port 8090``).

Served paths
------------
- ``GET /authorize``: the consent page (choose a demo listener, or Cancel).
  ``&listener=alice`` skips the page and redirects with a code at once;
  ``&decline=1`` declines. ``POST /authorize`` is what the page's buttons send.
- ``POST /api/token``: ``authorization_code`` and ``refresh_token`` grants.
- ``GET /v1/me``, ``/v1/me/top/tracks``, ``/v1/me/top/artists``,
  ``/v1/me/playlists``, ``/v1/me/player/recently-played``.
- ``GET /images/<kind>-<id>-<size>.svg``: generated cover art.

Control endpoints (JSON in, JSON out; for other processes such as the bench
script or browser tests; each mirrors the Python method of the same name)
------------------------------------------------------------------------------
- ``POST /_control/reset`` ``{"tokens": false}``: faults, latency, rotation,
  allow-list and counters back to how the server started; with
  ``"tokens": true`` also forget every code and token.
- ``POST /_control/reset_counters``
- ``POST /_control/latency`` ``{"seconds": 0.1}``: added to every Web API and
  token call.
- ``POST /_control/fail_next``
  ``{"path": "/v1/me", "n": 1, "status": 429, "retry_after": 3, "reason": null}``
- ``POST /_control/hang_next`` ``{"path": "/v1/me", "n": 1, "seconds": 5}``
- ``POST /_control/malformed_next`` ``{"path": "/v1/me", "n": 1}``
- ``POST /_control/expire_access_tokens`` ``{"listener": "alice"}``
- ``POST /_control/revoke`` ``{"listener": "alice"}``
- ``POST /_control/rotation`` ``{"enabled": false}``
- ``POST /_control/allow`` ``{"listener": "alice", "allowed": false}``
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
``400 {"error": "..."}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import logging
import secrets
import socketserver
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from devtools.fakespotify import data, images

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "euterpe-demo-client"
DEFAULT_CLIENT_SECRET = "euterpe-demo-secret"
DEFAULT_SCOPE = (
    "user-read-private user-top-read user-read-recently-played "
    "playlist-read-private playlist-read-collaborative"
)
CODE_LIFETIME = 600
MAX_LIMIT = 50
DEFAULT_LIMIT = 20

ACCESS_PREFIX = "fakeAT-"
REFRESH_PREFIX = "fakeRT-"
CODE_PREFIX = "fakeCODE-"

_ICON = "fake-spotify"  # the pages' icon, served like cover art
_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_NOT_REGISTERED = "User not registered in the Developer Dashboard"


# --- plumbing ----------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes

    def form(self) -> dict[str, str]:
        """The urlencoded body; the first value of a repeated field wins."""
        pairs = parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        result: dict[str, str] = {}
        for key, value in pairs:
            result.setdefault(key, value)
        return result


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload, **headers: str) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(status, body, {"Content-Type": _JSON, **headers})

    @classmethod
    def html(cls, status: int, text: str, **headers: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": _HTML, **headers})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location, "Cache-Control": "no-store"})


class _ApiError(Exception):
    """Raised inside a Web API handler; becomes Spotify's error object."""

    def __init__(self, status: int, message: str, **headers: str):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        payload = {"error": {"status": self.status, "message": self.message}}
        return Response.json(self.status, payload, **self.headers)


class _OAuthError(Exception):
    """Raised inside the token endpoint; becomes ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        payload = {"error": self.error, "error_description": self.description}
        return Response.json(self.status, payload, **{"Cache-Control": "no-store"})


@dataclass
class _Code:
    listener: str
    redirect_uri: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class _AccessGrant:
    listener: str
    scope: str
    expires_at: float
    revoked: bool = False


@dataclass
class _RefreshGrant:
    listener: str
    scope: str
    alive: bool = True


@dataclass(frozen=True)
class _Fault:
    kind: str  # "fail", "hang" or "malformed"
    status: int = 200
    retry_after: int | None = None
    reason: str | None = None
    seconds: float = 0.0


# --- the fake ----------------------------------------------------------------


class FakeSpotify:
    """A fake Spotify holding demo listeners, tokens, faults and call counters.

    All shared state sits behind one lock; the sleeps for latency and hangs
    happen outside it, so a hanging call never stalls the others.
    """

    def __init__(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: list[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rotate_refresh_tokens: bool = True,
        access_token_lifetime: int = 3600,
        verbose: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.host = host
        self.port = port
        self.access_token_lifetime = access_token_lifetime
        self.verbose = verbose
        # With a server-side SSLContext it speaks HTTPS (browser tests of an
        # https Euterpe, where plain-http images would be mixed content).
        self.ssl_context = ssl_context
        self._initial_latency = latency
        self._initial_rotation = rotate_refresh_tokens

        self._lock = threading.Lock()
        # Wakes sleeping latency/hang waits on reset() and stop().
        self._wakeup = threading.Condition()
        self._generation = 0

        self._listeners: dict[str, data.Listener | None] = {}
        self._generated: list[str] = []
        self._image_labels: dict[str, str] = {_ICON: "Fake Spotify"}
        self._allowed: set[str] = set()
        self._default_allowed: set[str] = set()
        self._add(data.demo_listeners())

        self._latency = latency
        self._rotation = rotate_refresh_tokens
        self._faults: dict[str, deque[_Fault]] = {}
        self._calls: Counter = Counter()
        self._inflight: Counter = Counter()
        self._max_inflight: Counter = Counter()
        self._reset_tokens()

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FakeSpotify:
        """Serve in a daemon thread; returns self (``fake = FakeSpotify().start()``)."""
        if self._server is not None:
            raise RuntimeError("FakeSpotify is already running")
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fakespotify-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server stops (the CLI waits here until Ctrl-C)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stop serving; waiting calls are woken so their threads end."""
        self._wake_sleepers()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` once started (a wildcard host shows as 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def auth_base_url(self) -> str:
        return self.base_url

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/v1"

    # -- listeners --

    def _add(self, listeners: list[data.Listener]) -> None:
        with self._lock:
            for listener in listeners:
                self._listeners[listener.id] = listener
                self._image_labels.update(listener.image_labels)
                if listener.allowed:
                    self._allowed.add(listener.id)
                    self._default_allowed.add(listener.id)

    def add_listeners(self, n: int, prefix: str = "listener") -> list[str]:
        """Generate ``n`` more ordinary listeners (``listener-0001``...); returns their ids.

        Their data is built on first use, so thousands cost nothing up front.
        """
        with self._lock:
            taken = sum(1 for key in self._listeners if key.startswith(f"{prefix}-"))
            ids = [f"{prefix}-{number:04d}" for number in range(taken + 1, taken + n + 1)]
            for listener_id in ids:
                self._listeners[listener_id] = None
                self._generated.append(listener_id)
                self._allowed.add(listener_id)
                self._default_allowed.add(listener_id)
        return ids

    def listener_ids(self) -> list[str]:
        with self._lock:
            return list(self._listeners)

    def listener(self, listener_id: str) -> data.Listener:
        """The demo data of one listener; ValueError if unknown."""
        with self._lock:
            if listener_id not in self._listeners:
                raise ValueError(f"unknown listener {listener_id!r}")
            found = self._listeners[listener_id]
        if found is not None:
            return found
        # Built outside the lock; it is deterministic, so a racing twin is identical.
        built = data.generated_listener(listener_id)
        with self._lock:
            if self._listeners[listener_id] is None:
                self._listeners[listener_id] = built
                self._image_labels.update(built.image_labels)
            return self._listeners[listener_id]

    def set_allowed(self, listener_id: str, allowed: bool) -> None:
        """Put a listener on the app's allow-list, or take them off it."""
        self.listener(listener_id)
        with self._lock:
            if allowed:
                self._allowed.add(listener_id)
            else:
                self._allowed.discard(listener_id)

    # -- control --

    def set_latency(self, seconds: float) -> None:
        """Add ``seconds`` to every Web API and token call."""
        with self._lock:
            self._latency = max(0.0, float(seconds))

    def set_rotation(self, enabled: bool) -> None:
        """Whether a refresh answers with a new refresh token (killing the old one)."""
        with self._lock:
            self._rotation = bool(enabled)

    def fail_next(
        self,
        path: str,
        n: int = 1,
        status: int = 500,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        """The next ``n`` calls of exactly ``path`` answer ``status``.

        A 429 carries ``Retry-After: retry_after`` when given, and ``reason``
        (e.g. ``QUOTA_EXCEEDED``) in the error object when given.
        """
        if not 400 <= int(status) <= 599:
            raise ValueError("status must be 400-599")
        fault = _Fault("fail", int(status), retry_after, reason)
        self._queue_faults(path, n, fault)

    def hang_next(self, path: str, n: int = 1, seconds: float = 30.0) -> None:
        """The next ``n`` calls of ``path`` wait ``seconds`` before answering normally."""
        self._queue_faults(path, n, _Fault("hang", seconds=float(seconds)))

    def malformed_next(self, path: str, n: int = 1) -> None:
        """The next ``n`` calls of ``path`` answer 200 with a body that is not JSON."""
        self._queue_faults(path, n, _Fault("malformed"))

    def _queue_faults(self, path: str, n: int, fault: _Fault) -> None:
        if not path.startswith("/") or int(n) < 1:
            raise ValueError("path must start with / and n must be >= 1")
        with self._lock:
            self._faults.setdefault(path, deque()).extend([fault] * int(n))

    def expire_access_tokens(self, listener_id: str) -> None:
        """The listener's current access tokens answer 401 "The access token expired"."""
        self.listener(listener_id)
        with self._lock:
            for grant in self._access.values():
                if grant.listener == listener_id:
                    grant.expires_at = 0.0

    def revoke(self, listener_id: str) -> None:
        """Kill the listener's access and refresh tokens (refresh -> invalid_grant)."""
        self.listener(listener_id)
        with self._lock:
            for grant in self._access.values():
                if grant.listener == listener_id:
                    grant.revoked = True
            for refresh in self._refresh.values():
                if refresh.listener == listener_id:
                    refresh.alive = False
            for code in self._codes.values():
                if code.listener == listener_id:
                    code.used = True

    def calls(self, path: str | None = None, listener: str | None = None) -> int:
        """How many requests came for ``path`` and/or ``listener`` (None: any)."""
        with self._lock:
            return self._calls[(path, listener)]

    def max_concurrency(self, path: str | None = None, listener: str | None = None) -> int:
        """The most requests for ``path``/``listener`` that were in flight at once."""
        with self._lock:
            return self._max_inflight[(path, listener)]

    def reset_counters(self) -> None:
        with self._lock:
            self._calls.clear()
            # In-flight counts stay: those requests will still finish.
            self._max_inflight = Counter(self._inflight)

    def reset(self, tokens: bool = False) -> None:
        """Forget faults, latency, rotation and allow-list changes, and counters.

        Listeners (also added ones) stay; codes and tokens stay unless ``tokens``.
        """
        with self._lock:
            self._faults.clear()
            self._latency = self._initial_latency
            self._rotation = self._initial_rotation
            self._allowed = set(self._default_allowed)
        self.reset_counters()
        if tokens:
            self._reset_tokens()
        self._wake_sleepers()

    def _reset_tokens(self) -> None:
        with self._lock:
            self._codes: dict[str, _Code] = {}
            self._access: dict[str, _AccessGrant] = {}
            self._refresh: dict[str, _RefreshGrant] = {}
            self._issued: list[str] = []
            self._anchors: dict[str, datetime] = {}
            self._started_at = datetime.now(UTC)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token ever issued (to grep logs and pages for)."""
        with self._lock:
            return list(self._issued)

    def current_tokens(self, listener_id: str) -> dict[str, list[str]]:
        """The listener's live tokens, oldest first: ``{"access": [...], "refresh": [...]}``."""
        now = time.monotonic()
        with self._lock:
            access = [
                token
                for token, grant in self._access.items()
                if grant.listener == listener_id and not grant.revoked and grant.expires_at > now
            ]
            refresh = [
                token
                for token, grant in self._refresh.items()
                if grant.listener == listener_id and grant.alive
            ]
        return {"access": access, "refresh": refresh}

    def authorize_code(
        self, listener_id: str, redirect_uri: str, scope: str = DEFAULT_SCOPE
    ) -> str:
        """An authorization code, as if ``listener_id`` had approved at /authorize."""
        self.listener(listener_id)
        code = CODE_PREFIX + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                listener_id, redirect_uri, scope, time.monotonic() + CODE_LIFETIME
            )
            # Recently played counts back from the latest login, so it looks live.
            self._anchors[listener_id] = datetime.now(UTC)
        return code

    # -- request flow --

    def dispatch(self, request: Request) -> Response:
        """Answer one request (the HTTP handler calls this from its own thread)."""
        if request.path.startswith("/_control/"):
            return self._control(request)
        if request.path.startswith("/images/"):
            return self._image(request)
        keys = self._enter(request.path, self._identify(request))
        try:
            return self._serve(request)
        finally:
            self._leave(keys)

    def _serve(self, request: Request) -> Response:
        if request.path.startswith("/v1/") or request.path == "/api/token":
            with self._lock:
                latency = self._latency
            self._sleep(latency)
        fault = self._take_fault(request.path)
        if fault is not None and fault.kind == "hang":
            self._sleep(fault.seconds)
        elif fault is not None and fault.kind == "malformed":
            return Response(200, b'{"items": [{"id": "broken', {"Content-Type": _JSON})
        elif fault is not None:
            return self._fault_response(request.path, fault)
        return self._route(request)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def _sleep(self, seconds: float) -> None:
        """Sleep outside the state lock; reset()/stop() cut it short."""
        if seconds <= 0:
            return
        with self._wakeup:
            generation = self._generation
            self._wakeup.wait_for(lambda: self._generation != generation, timeout=seconds)

    def _wake_sleepers(self) -> None:
        with self._wakeup:
            self._generation += 1
            self._wakeup.notify_all()

    def _identify(self, request: Request) -> str | None:
        """Whose call this is, for the counters (no validation)."""
        with self._lock:
            if request.path.startswith("/v1/"):
                token = _bearer(request.headers)
                grant = self._access.get(token) if token else None
                return grant.listener if grant else None
            if request.path == "/api/token":
                form = request.form()
                code = self._codes.get(form.get("code", ""))
                if code is not None:
                    return code.listener
                refresh = self._refresh.get(form.get("refresh_token", ""))
                return refresh.listener if refresh else None
        if request.path == "/authorize":
            chosen = request.query.get("listener") or request.form().get("listener")
            return chosen or None
        return None

    def _enter(self, path: str, listener: str | None) -> list[tuple]:
        keys = [(None, None), (path, None)]
        if listener is not None:
            keys += [(None, listener), (path, listener)]
        with self._lock:
            for key in keys:
                self._calls[key] += 1
                self._inflight[key] += 1
                self._max_inflight[key] = max(self._max_inflight[key], self._inflight[key])
        return keys

    def _leave(self, keys: list[tuple]) -> None:
        with self._lock:
            for key in keys:
                self._inflight[key] -= 1

    def _fault_response(self, path: str, fault: _Fault) -> Response:
        phrase = _phrase(fault.status)
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if path.startswith("/v1/"):
            error: dict = {"status": fault.status, "message": phrase}
            if fault.status == 429:
                error["message"] = "API rate limit exceeded"
            if fault.reason:
                error["reason"] = fault.reason
            return Response.json(fault.status, {"error": error}, **headers)
        if path == "/api/token":
            code = "temporarily_unavailable" if fault.status >= 500 else "invalid_request"
            payload = {"error": code, "error_description": phrase}
            return Response.json(fault.status, payload, **headers)
        return Response.html(fault.status, _error_page(phrase), **headers)

    def _route(self, request: Request) -> Response:
        routes = {
            "/": {"GET": self._index},
            "/authorize": {"GET": self._authorize_get, "POST": self._authorize_post},
            "/api/token": {"POST": self._token},
            "/v1/me": {"GET": self._me},
            "/v1/me/top/tracks": {"GET": self._top_tracks},
            "/v1/me/top/artists": {"GET": self._top_artists},
            "/v1/me/playlists": {"GET": self._playlists},
            "/v1/me/player/recently-played": {"GET": self._recently_played},
        }
        methods = routes.get(request.path)
        is_api = request.path.startswith("/v1/")
        if methods is None:
            if is_api:
                return _ApiError(404, "Service not found").response()
            return Response.html(404, _error_page("Not found"))
        handler = methods.get(request.method)
        if handler is None:
            if is_api:
                return _ApiError(405, "Method not allowed").response()
            return Response.html(405, _error_page("Method not allowed"))
        try:
            if is_api:
                return handler(request, self._authenticate(request))
            return handler(request)
        except _ApiError as exc:
            return exc.response()
        except _OAuthError as exc:
            return exc.response()

    # -- accounts service --

    def _client_error(self, client_id: str | None, redirect_uri: str | None) -> str | None:
        """Why /authorize must not redirect back, or None if it may."""
        if client_id != self.client_id:
            return "INVALID_CLIENT: Invalid client"
        if not redirect_uri:
            return "INVALID_CLIENT: Invalid redirect URI"
        if self.redirect_uris is not None:
            registered = redirect_uri in self.redirect_uris
            return None if registered else "INVALID_CLIENT: Invalid redirect URI"
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "INVALID_CLIENT: Invalid redirect URI"
        return None

    def _authorize_get(self, request: Request) -> Response:
        return self._authorize(request.query)

    def _authorize_post(self, request: Request) -> Response:
        return self._authorize(request.form(), page_allowed=False)

    def _authorize(self, params: dict[str, str], *, page_allowed: bool = True) -> Response:
        redirect_uri = params.get("redirect_uri")
        problem = self._client_error(params.get("client_id"), redirect_uri)
        if problem is not None:
            # Like Spotify: never redirect to a URI that was not validated.
            return Response.html(400, _error_page(problem))
        state = params.get("state")
        if params.get("response_type") != "code":
            return Response.redirect(
                _with_query(redirect_uri, error="unsupported_response_type", state=state)
            )
        if params.get("decline"):
            return Response.redirect(_with_query(redirect_uri, error="access_denied", state=state))
        listener_id = params.get("listener")
        if listener_id is None and page_allowed:
            return self._consent_page(params)
        with self._lock:
            known = listener_id in self._listeners
        if not known:
            return Response.html(400, _error_page(f"Unknown demo listener {listener_id!r}"))
        code = self.authorize_code(listener_id, redirect_uri, params.get("scope") or "")
        return Response.redirect(_with_query(redirect_uri, code=code, state=state))

    def _consent_page(self, params: dict[str, str]) -> Response:
        with self._lock:
            generated = list(self._generated)
            is_generated = set(generated)
            demo = [key for key in self._listeners if key not in is_generated]
            allowed = set(self._allowed)
        shown = [self.listener(key) for key in demo + generated[:_SHOWN_GENERATED]]
        hidden_count = max(0, len(generated) - _SHOWN_GENERATED)
        text = _render_consent_page(params, shown, hidden_count, allowed, self._avatar_url)
        return Response.html(200, text, **_PAGE_HEADERS)

    def _avatar_url(self, listener: data.Listener) -> str | None:
        if not listener.has_avatar:
            return None
        return f"/images/user-{data.spotify_id('user', listener.id)}-64.svg"

    def _token(self, request: Request) -> Response:
        form = request.form()
        if self._client_credentials(request, form) != (self.client_id, self.client_secret):
            raise _OAuthError("invalid_client", "Invalid client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._grant_code(form)
        if grant_type == "refresh_token":
            return self._grant_refresh(form)
        if not grant_type:
            raise _OAuthError("unsupported_grant_type", "grant_type parameter is missing")
        raise _OAuthError(
            "unsupported_grant_type",
            "grant_type must be client_credentials, authorization_code or refresh_token",
        )

    @staticmethod
    def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        if "client_id" in form:
            return form["client_id"], form.get("client_secret", "")
        return None

    def _grant_code(self, form: dict[str, str]) -> Response:
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code:
            raise _OAuthError("invalid_request", "code must be supplied")
        if not redirect_uri:
            raise _OAuthError("invalid_request", "redirect_uri must be supplied")
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.used:
                raise _OAuthError("invalid_grant", "Invalid authorization code")
            if grant.expires_at < time.monotonic():
                raise _OAuthError("invalid_grant", "Authorization code expired")
            if grant.redirect_uri != redirect_uri:
                raise _OAuthError("invalid_grant", "Invalid redirect URI")
            grant.used = True  # single use: a replay is invalid_grant
            answer = self._issue(grant.listener, grant.scope, with_refresh=True)
        return Response.json(200, answer, **{"Cache-Control": "no-store"})

    def _grant_refresh(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token")
        if not token:
            raise _OAuthError("invalid_request", "refresh_token must be supplied")
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or not grant.alive:
                raise _OAuthError("invalid_grant", "Invalid refresh token")
            if self._rotation:
                grant.alive = False
            answer = self._issue(grant.listener, grant.scope, with_refresh=self._rotation)
        return Response.json(200, answer, **{"Cache-Control": "no-store"})

    def _issue(self, listener_id: str, scope: str, *, with_refresh: bool) -> dict:
        """New tokens for ``listener_id``; the caller holds the lock."""
        access = ACCESS_PREFIX + secrets.token_urlsafe(24)
        expires_at = time.monotonic() + self.access_token_lifetime
        self._access[access] = _AccessGrant(listener_id, scope, expires_at)
        self._issued.append(access)
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.access_token_lifetime,
        }
        if with_refresh:
            refresh = REFRESH_PREFIX + secrets.token_urlsafe(24)
            self._refresh[refresh] = _RefreshGrant(listener_id, scope)
            self._issued.append(refresh)
            answer["refresh_token"] = refresh
        return answer

    # -- Web API --

    def _authenticate(self, request: Request) -> data.Listener:
        header = request.headers.get("Authorization")
        if not header:
            raise _ApiError(401, "No token provided")
        token = _bearer(request.headers)
        if token is None:
            raise _ApiError(400, "Only valid bearer authentication supported")
        with self._lock:
            grant = self._access.get(token)
            if grant is None:
                # A token of ours we no longer know (e.g. from before a restart)
                # has simply expired; anything else was never a token.
                known_shape = token.startswith(ACCESS_PREFIX)
                message = "The access token expired" if known_shape else "Invalid access token"
            elif grant.revoked:
                message = "Invalid access token"
            elif grant.expires_at <= time.monotonic():
                message = "The access token expired"
            else:
                message = None
            listener_id = grant.listener if grant else None
            allowed = listener_id in self._allowed
        if message is not None:
            challenge = (
                f'Bearer realm="spotify", error="invalid_token", error_description="{message}"'
            )
            raise _ApiError(401, message, **{"WWW-Authenticate": challenge})
        if not allowed:
            raise _ApiError(403, _NOT_REGISTERED)
        return self.listener(listener_id)

    def _me(self, request: Request, listener: data.Listener) -> Response:
        return Response.json(200, data.render_profile(listener, self.base_url))

    def _top_tracks(self, request: Request, listener: data.Listener) -> Response:
        return self._top(request, listener, "tracks")

    def _top_artists(self, request: Request, listener: data.Listener) -> Response:
        return self._top(request, listener, "artists")

    def _top(self, request: Request, listener: data.Listener, kind: str) -> Response:
        time_range = request.query.get("time_range", "medium_term")
        if time_range not in data.TIME_RANGES:
            raise _ApiError(400, "Invalid time range")
        limit, offset = _limit(request.query), _offset(request.query)
        if kind == "tracks":
            source = listener.top_tracks[time_range]
            render = data.render_track
        else:
            source = listener.top_artists[time_range]
            render = data.render_artist
        items = [
            render(item, self.base_url, legacy=listener.legacy)
            for item in source[offset : offset + limit]
        ]
        page = self._page(
            f"/me/top/{kind}", items, len(source), limit, offset, {"time_range": time_range}
        )
        return Response.json(200, page)

    def _playlists(self, request: Request, listener: data.Listener) -> Response:
        limit, offset = _limit(request.query), _offset(request.query)
        items = [
            data.render_playlist(playlist, self.base_url, legacy=listener.legacy)
            for playlist in listener.playlists[offset : offset + limit]
        ]
        page = self._page("/me/playlists", items, len(listener.playlists), limit, offset, {})
        return Response.json(200, page)

    def _page(self, path, items, total, limit, offset, extra) -> dict:
        """A PagingObject with real ``next``/``previous`` links."""

        def url(at: int) -> str:
            return f"{self.api_base_url}{path}?" + urlencode(
                {"offset": at, "limit": limit, **extra}
            )

        return {
            "href": url(offset),
            "items": items,
            "limit": limit,
            "next": url(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": url(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        }

    def _recently_played(self, request: Request, listener: data.Listener) -> Response:
        limit = _limit(request.query)
        before = _timestamp(request.query, "before")
        after = _timestamp(request.query, "after")
        if before is not None and after is not None:
            raise _ApiError(400, "Only one of 'before' or 'after' may be specified")
        with self._lock:
            anchor = self._anchors.get(listener.id, self._started_at)
        moments = [(data.played_at(play, anchor), play) for play in listener.plays]
        if before is not None:
            older = [m for m in moments if _millis(m[0]) < before]
            chosen, more = older[:limit], len(older) > limit
        elif after is not None:
            # The plays right after the cursor, still newest first.
            newer = [m for m in moments if _millis(m[0]) > after]
            chosen = newer[-limit:]
            more = bool(chosen) and _millis(chosen[-1][0]) > _millis(moments[-1][0])
        else:
            chosen, more = moments[:limit], len(moments) > limit
        return Response.json(200, self._cursor_page(listener, chosen, limit, more, before, after))

    def _cursor_page(self, listener, chosen, limit, more, before, after) -> dict:
        """A CursorPagingObject; ``cursors`` is null when there is nothing to page."""
        endpoint = f"{self.api_base_url}/me/player/recently-played"
        query = {"limit": limit}
        if before is not None:
            query["before"] = before
        if after is not None:
            query["after"] = after
        cursors = None
        next_url = None
        if chosen:
            cursors = {
                "after": str(_millis(chosen[0][0])),
                "before": str(_millis(chosen[-1][0])),
            }
            if more:
                next_url = f"{endpoint}?" + urlencode({"before": cursors["before"], "limit": limit})
        items = [
            data.render_play(play, moment, self.base_url, legacy=listener.legacy)
            for moment, play in chosen
        ]
        return {
            "cursors": cursors,
            "href": f"{endpoint}?" + urlencode(query),
            "items": items,
            "limit": limit,
            "next": next_url,
        }

    # -- pages and images --

    def _index(self, request: Request) -> Response:
        body = (
            "<h1>Fake Spotify</h1><p>Euterpe's stand-in for Spotify. "
            f"Accounts service at <code>{html.escape(self.auth_base_url)}</code>, "
            f"Web API at <code>{html.escape(self.api_base_url)}</code>.</p>"
        )
        return Response.html(200, _page("Fake Spotify", body), **_PAGE_HEADERS)

    def _image(self, request: Request) -> Response:
        name = request.path.removeprefix("/images/")
        stem, dot, extension = name.rpartition(".")
        key, _, size = stem.rpartition("-")
        with self._lock:
            label = self._image_labels.get(key)
        if extension != "svg" or not dot or label is None or not size.isdigit():
            return Response.html(404, _error_page("No such image"))
        body = images.render_svg(key, label, min(int(size), 2000))
        headers = {
            "Content-Type": "image/svg+xml",
            "Cache-Control": "public, max-age=86400, immutable",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        return Response(200, body, headers)

    # -- control endpoints --

    def _control(self, request: Request) -> Response:
        name = request.path.removeprefix("/_control/")
        try:
            payload = json.loads(request.body or b"{}") if request.method == "POST" else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            handler = self._control_handlers().get((request.method, name))
            if handler is None:
                return Response.json(404, {"error": f"no control {request.method} {name}"})
            return Response.json(200, handler(payload, request.query))
        except (KeyError, TypeError, ValueError) as exc:
            return Response.json(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _control_handlers(self) -> dict:
        def done(result=None):
            return {"ok": True} if result is None else result

        return {
            ("POST", "reset"): lambda p, q: done(self.reset(tokens=bool(p.get("tokens")))),
            ("POST", "reset_counters"): lambda p, q: done(self.reset_counters()),
            ("POST", "latency"): lambda p, q: done(self.set_latency(p["seconds"])),
            ("POST", "fail_next"): lambda p, q: done(
                self.fail_next(
                    p["path"],
                    p.get("n", 1),
                    p.get("status", 500),
                    p.get("retry_after"),
                    p.get("reason"),
                )
            ),
            ("POST", "hang_next"): lambda p, q: done(
                self.hang_next(p["path"], p.get("n", 1), p.get("seconds", 30))
            ),
            ("POST", "malformed_next"): lambda p, q: done(
                self.malformed_next(p["path"], p.get("n", 1))
            ),
            ("POST", "expire_access_tokens"): lambda p, q: done(
                self.expire_access_tokens(p["listener"])
            ),
            ("POST", "revoke"): lambda p, q: done(self.revoke(p["listener"])),
            ("POST", "rotation"): lambda p, q: done(self.set_rotation(p["enabled"])),
            ("POST", "allow"): lambda p, q: done(
                self.set_allowed(p["listener"], p.get("allowed", True))
            ),
            ("GET", "listeners"): lambda p, q: {"listeners": self.listener_ids()},
            ("POST", "listeners"): lambda p, q: {
                "added": self.add_listeners(int(p["n"]), p.get("prefix", "listener"))
            },
            ("GET", "calls"): lambda p, q: {"calls": self.calls(q.get("path"), q.get("listener"))},
            ("GET", "max_concurrency"): lambda p, q: {
                "max_concurrency": self.max_concurrency(q.get("path"), q.get("listener"))
            },
            ("GET", "issued_tokens"): lambda p, q: {"tokens": self.issued_tokens()},
            ("GET", "current_tokens"): lambda p, q: self.current_tokens(q["listener"]),
            ("POST", "authorize_code"): lambda p, q: {
                "code": self.authorize_code(
                    p["listener"], p["redirect_uri"], p.get("scope", DEFAULT_SCOPE)
                )
            },
        }


# --- helpers -----------------------------------------------------------------


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _bearer(headers: Message) -> str | None:
    header = headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ApiError(400, f"Invalid {name}") from None
    if not low <= value <= high:
        raise _ApiError(400, f"Invalid {name}")
    return value


def _limit(query: dict[str, str]) -> int:
    return _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def _offset(query: dict[str, str]) -> int:
    return _int_param(query, "offset", 0, 0, 100_000)


def _timestamp(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    return _int_param(query, name, 0, 0, 10**14)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _with_query(url: str, **params: str | None) -> str:
    """``url`` with ``params`` appended (None values left out), properly encoded."""
    pairs = [(key, value) for key, value in params.items() if value is not None]
    encoded = urlencode(pairs, quote_via=quote, errors="surrogateescape")
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{encoded}"


_STYLE = """
body { font-family: system-ui, sans-serif; background: #121212; color: #eee; margin: 0; }
main { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; } .note { color: #aaa; }
ul { list-style: none; padding: 0; display: grid; gap: .5rem; }
button { font: inherit; cursor: pointer; border-radius: 2rem; border: 0; padding: .5rem 1rem; }
.listener { display: flex; align-items: center; gap: .75rem; width: 100%; text-align: left;
  background: #282828; color: #fff; border-radius: .5rem; }
.listener:hover, .listener:focus { background: #1db954; color: #000; }
.listener img, .avatar { width: 40px; height: 40px; border-radius: 50%; }
.avatar { display: inline-grid; place-items: center; background: #555; }
.cancel { background: transparent; color: #eee; border: 1px solid #777; }
input { font: inherit; padding: .4rem; border-radius: .3rem; border: 1px solid #777; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# No form-action: browsers apply it to the redirect that follows the POST,
# which would block the way back to the app's redirect URI.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; img-src 'self'; style-src 'sha256-{_STYLE_HASH}'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_DEMO_NOTES = {
    "legacy": "extended-quota shape: email, genres, popularity",
    "nameless": "no display name, no picture, no playlists, nothing played",
    "unicode": "Björk, 坂本龍一, emoji",
    "html": "names made of HTML",
    "collector": "120 playlists",
    "stranger": "not on the allow-list: the Web API answers 403",
}
_SHOWN_GENERATED = 12


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An icon of its own, or browsers ask for /favicon.ico and log its 404.
        f'<link rel="icon" href="/images/{_ICON}-32.svg" type="image/svg+xml">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _error_page(message: str) -> str:
    return _page("Fake Spotify — error", f"<h1>Error</h1><p>{html.escape(message)}</p>")


def _render_consent_page(params, listeners, hidden_count, allowed, avatar_url) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params.get(name) or "")}">'
        for name in ("client_id", "response_type", "redirect_uri", "state", "scope")
    )
    rows = []
    for listener in listeners:
        url = avatar_url(listener)
        picture = (
            f'<img src="{html.escape(url)}" alt="" width="40" height="40">'
            if url
            else '<span class="avatar" aria-hidden="true">?</span>'
        )
        note = _DEMO_NOTES.get(listener.id, "")
        if listener.id not in allowed and listener.id != "stranger":
            note = "not on the allow-list"
        name = html.escape(listener.display_name or listener.id)
        rows.append(
            f'<li><button class="listener" type="submit" name="listener" '
            f'value="{html.escape(listener.id)}">{picture}<span><strong>{name}</strong>'
            f' <span class="note">({html.escape(listener.id)}) {html.escape(note)}</span>'
            "</span></button></li>"
        )
    more = ""
    if hidden_count:
        more = f'<p class="note">…and {hidden_count} more generated listeners.</p>'
    scope = html.escape(params.get("scope") or "(none)")
    body = (
        "<h1>Fake Spotify — demo data</h1>"
        '<p class="note">This is not Spotify. Pick a demo listener to log in as; '
        f"the app asks for <code>{scope}</code>.</p>"
        f'<form method="post" action="/authorize">{hidden}<ul>{"".join(rows)}</ul>{more}'
        '<p><button class="cancel" type="submit" name="decline" value="1">Cancel</button></p>'
        "</form>"
        f'<form method="post" action="/authorize">{hidden}'
        '<p><label>Listener id <input name="listener" required></label> '
        '<button type="submit">Log in</button></p></form>'
    )
    return _page("Fake Spotify — demo data", body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Far above the default 5: bench runs open many connections at once.
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, handler, fake: FakeSpotify):
        self.fake = fake
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which
        # can stall for seconds on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake happens here, in the connection's own thread, so a
        # slow or failing client never stalls the accept loop.
        context = self.fake.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        try:
            request = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            logger.debug("fake Spotify: TLS handshake failed with %s", client_address)
            return
        with request:
            super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        # A client that hung up mid-answer is normal here (timeouts in tests).
        logger.debug("fake Spotify: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSpotify/1.0"
    sys_version = ""
    # Idle keep-alive connections are closed after this, freeing their thread.
    timeout = 60
    # Headers and body go out in separate writes; with Nagle's algorithm and
    # delayed ACKs that costs ~40 ms per keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._write(Response.html(400, _error_page("Bad Content-Length")))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, errors="surrogateescape"):
            query.setdefault(key, value)
        request = Request(self.command, parts.path, query, self.headers, body)
        try:
            response = self.server.fake.dispatch(request)
        except Exception:
            logger.exception("fake Spotify failed on %s %s", self.command, parts.path)
            response = _ApiError(500, "Fake Spotify bug").response()
        self._write(response)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout during a hang).
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        if self.server.fake.verbose:
            super().log_message(format, *args)
