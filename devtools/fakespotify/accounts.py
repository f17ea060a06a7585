"""The accounts service: ``/authorize`` (consent page, codes) and ``/api/token``
(authorization_code and refresh_token grants), and the codes and tokens behind them.

Answers as Spotify's accounts service does: an unknown client or redirect URI
is an error page (never a redirect), refusals after that go back to the
redirect URI, and token errors are ``{"error", "error_description"}``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from devtools.fakespotify import pages
from devtools.fakespotify.listeners import Listeners
from devtools.fakespotify.wire import Request, Response

DEFAULT_CLIENT_ID = "euterpe-demo-client"
DEFAULT_CLIENT_SECRET = "euterpe-demo-secret"
DEFAULT_SCOPE = (
    "user-read-private user-top-read user-read-recently-played "
    "playlist-read-private playlist-read-collaborative"
)
CODE_LIFETIME = 600

ACCESS_PREFIX = "fakeAT-"
REFRESH_PREFIX = "fakeRT-"
CODE_PREFIX = "fakeCODE-"


class OAuthError(Exception):
    """Raised inside the token endpoint; becomes ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        payload = {"error": self.error, "error_description": self.description}
        return Response.json(self.status, payload, **{"Cache-Control": "no-store"})


class TokenRefused(Exception):
    """An access token the Web API must answer 401 for; the message says why."""


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


class AccountsService:
    """Codes and tokens behind one lock; ``listeners`` says who may log in."""

    def __init__(
        self,
        listeners: Listeners,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | None,
        access_token_lifetime: int,
        rotate_refresh_tokens: bool,
    ):
        self.listeners = listeners
        self.client_id = client_id
        self.client_secret = client_secret
        # None: any http(s) redirect URI is accepted.
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.access_token_lifetime = access_token_lifetime
        self._initial_rotation = rotate_refresh_tokens
        self._rotation = rotate_refresh_tokens
        self._lock = threading.Lock()
        self._forget_tokens()

    # -- /authorize --

    def authorize_get(self, request: Request) -> Response:
        return self._authorize(request.query)

    def authorize_post(self, request: Request) -> Response:
        """What the consent page's buttons send."""
        return self._authorize(request.form(), page_allowed=False)

    def _authorize(self, params: dict[str, str], *, page_allowed: bool = True) -> Response:
        redirect_uri = params.get("redirect_uri")
        problem = self._client_error(params.get("client_id"), redirect_uri)
        if problem is not None:
            # Like Spotify: never redirect to a URI that was not validated.
            return pages.error(400, problem)
        state = params.get("state")
        if params.get("response_type") != "code":
            return Response.redirect(
                _with_query(redirect_uri, error="unsupported_response_type", state=state)
            )
        if params.get("decline"):
            return Response.redirect(_with_query(redirect_uri, error="access_denied", state=state))
        listener_id = params.get("listener")
        if listener_id is None and page_allowed:
            shown, hidden_count, allowed = self.listeners.for_consent_page(pages.SHOWN_GENERATED)
            return pages.consent(params, shown, hidden_count, allowed)
        if not self.listeners.knows(listener_id):
            return pages.error(400, f"Unknown demo listener {listener_id!r}")
        code = self.authorize_code(listener_id, redirect_uri, params.get("scope") or "")
        return Response.redirect(_with_query(redirect_uri, code=code, state=state))

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

    def authorize_code(
        self, listener_id: str, redirect_uri: str, scope: str = DEFAULT_SCOPE
    ) -> str:
        """An authorization code, as if ``listener_id`` had approved at /authorize."""
        self.listeners.get(listener_id)
        code = CODE_PREFIX + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                listener_id, redirect_uri, scope, time.monotonic() + CODE_LIFETIME
            )
        self.listeners.logged_in(listener_id)
        return code

    # -- /api/token --

    def token(self, request: Request) -> Response:
        try:
            return self._token(request)
        except OAuthError as exc:
            return exc.response()

    def _token(self, request: Request) -> Response:
        form = request.form()
        if _client_credentials(request, form) != (self.client_id, self.client_secret):
            raise OAuthError("invalid_client", "Invalid client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._grant_code(form)
        if grant_type == "refresh_token":
            return self._grant_refresh(form)
        if not grant_type:
            raise OAuthError("unsupported_grant_type", "grant_type parameter is missing")
        raise OAuthError(
            "unsupported_grant_type",
            "grant_type must be client_credentials, authorization_code or refresh_token",
        )

    def _grant_code(self, form: dict[str, str]) -> Response:
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code:
            raise OAuthError("invalid_request", "code must be supplied")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri must be supplied")
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.used:
                raise OAuthError("invalid_grant", "Invalid authorization code")
            if grant.expires_at < time.monotonic():
                raise OAuthError("invalid_grant", "Authorization code expired")
            if grant.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "Invalid redirect URI")
            grant.used = True  # single use: a replay is invalid_grant
            answer = self._issue(grant.listener, grant.scope, with_refresh=True)
        return Response.json(200, answer, **{"Cache-Control": "no-store"})

    def _grant_refresh(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token must be supplied")
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or not grant.alive:
                raise OAuthError("invalid_grant", "Invalid refresh token")
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

    # -- for the Web API and the call counters --

    def listener_of_access_token(self, token: str) -> str:
        """Whose live access token this is; TokenRefused with Spotify's message if none."""
        with self._lock:
            grant = self._access.get(token)
            if grant is None:
                # A token of ours we no longer know (e.g. from before a restart)
                # has simply expired; anything else was never a token.
                if token.startswith(ACCESS_PREFIX):
                    raise TokenRefused("The access token expired")
                raise TokenRefused("Invalid access token")
            if grant.revoked:
                raise TokenRefused("Invalid access token")
            if grant.expires_at <= time.monotonic():
                raise TokenRefused("The access token expired")
            return grant.listener

    def whose(self, request: Request) -> str | None:
        """Whose call this is, by its token, code or chosen listener (no validation)."""
        if request.path.startswith("/v1/"):
            token = request.bearer()
            with self._lock:
                grant = self._access.get(token) if token else None
                return grant.listener if grant else None
        if request.path == "/api/token":
            form = request.form()
            with self._lock:
                code = self._codes.get(form.get("code", ""))
                if code is not None:
                    return code.listener
                refresh = self._refresh.get(form.get("refresh_token", ""))
                return refresh.listener if refresh else None
        if request.path == "/authorize":
            chosen = request.query.get("listener") or request.form().get("listener")
            return chosen or None
        return None

    # -- control --

    def set_rotation(self, enabled: bool) -> None:
        with self._lock:
            self._rotation = bool(enabled)

    def expire_access_tokens(self, listener_id: str) -> None:
        self.listeners.get(listener_id)
        with self._lock:
            for grant in self._access.values():
                if grant.listener == listener_id:
                    grant.expires_at = 0.0

    def revoke(self, listener_id: str) -> None:
        self.listeners.get(listener_id)
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

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def current_tokens(self, listener_id: str) -> dict[str, list[str]]:
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

    def reset(self, *, tokens: bool) -> None:
        """Rotation back to how it started; with ``tokens``, every code and token forgotten."""
        with self._lock:
            self._rotation = self._initial_rotation
        if tokens:
            self._forget_tokens()

    def _forget_tokens(self) -> None:
        with self._lock:
            self._codes: dict[str, _Code] = {}
            self._access: dict[str, _AccessGrant] = {}
            self._refresh: dict[str, _RefreshGrant] = {}
            self._issued: list[str] = []


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


def _with_query(url: str, **params: str | None) -> str:
    """``url`` with ``params`` appended (None values left out), properly encoded."""
    pairs = [(key, value) for key, value in params.items() if value is not None]
    encoded = urlencode(pairs, quote_via=quote, errors="surrogateescape")
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{encoded}"
