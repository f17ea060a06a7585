"""A fake Spotify (accounts service + the Web API endpoints Euterpe uses).

Standard library only, no Django: it runs in-process for tests
(``FakeSpotify().start()``) or as its own process for local runs and bench
scripts (``python -m devtools.fakespotify --port 8090``).

Served paths, and the module that answers them:

- ``GET /authorize`` (the consent page; ``&listener=alice`` skips it and
  redirects with a code at once, ``&decline=1`` declines), ``POST /authorize``
  (what the page's buttons send), ``POST /api/token``:
  :mod:`~devtools.fakespotify.accounts`.
- ``GET /v1/me``, ``/v1/me/top/tracks``, ``/v1/me/top/artists``,
  ``/v1/me/playlists``, ``/v1/me/player/recently-played``:
  :mod:`~devtools.fakespotify.webapi`.
- ``GET /``, ``GET /images/<kind>-<id>-<size>.svg`` (generated cover art), and
  every HTML page: :mod:`~devtools.fakespotify.pages`.
- ``/_control/...``: :mod:`~devtools.fakespotify.control` (the list of
  controls), which also counts calls.

Latency and faults for the next calls of a path: :mod:`~devtools.fakespotify.faults`.
The listeners: :mod:`~devtools.fakespotify.listeners` (who, allowed, when they
played) and :mod:`~devtools.fakespotify.data` (what each one has, in Spotify's JSON).
"""

from __future__ import annotations

import logging
import socketserver
import ssl
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from devtools.fakespotify import control, data, pages
from devtools.fakespotify.accounts import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPE,
    AccountsService,
)
from devtools.fakespotify.faults import Faults
from devtools.fakespotify.listeners import Listeners
from devtools.fakespotify.webapi import ApiError, WebApi
from devtools.fakespotify.wire import Request, Response

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_SCOPE", "FakeSpotify"]

logger = logging.getLogger(__name__)


class FakeSpotify:
    """A fake Spotify: its parts, the HTTP server in front of them, and the Python
    control API (the same as ``/_control/...``).

    Each part keeps its state behind its own lock; the sleeps for latency and
    hangs happen outside any lock, so a hanging call never stalls the others.
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
        self.host = host
        self.port = port
        self.verbose = verbose
        # With a server-side SSLContext it speaks HTTPS (browser tests of an
        # https Euterpe, where plain-http images would be mixed content).
        self.ssl_context = ssl_context

        self.listeners = Listeners(data.demo_listeners())
        self.accounts = AccountsService(
            self.listeners,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=redirect_uris,
            access_token_lifetime=access_token_lifetime,
            rotate_refresh_tokens=rotate_refresh_tokens,
        )
        self.web_api = WebApi(self.accounts, self.listeners, lambda: self.base_url)
        self.faults = Faults(latency)
        self.counters = control.Counters()

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
        self.faults.wake_sleepers()
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

    @property
    def client_id(self) -> str:
        return self.accounts.client_id

    @property
    def client_secret(self) -> str:
        return self.accounts.client_secret

    # -- request flow --

    def dispatch(self, request: Request) -> Response:
        """Answer one request (the HTTP handler calls this from its own thread).

        Control calls and images are neither counted nor faulted; every other
        call is counted, then gets the latency and any fault queued for its path.
        """
        if request.path.startswith(control.PREFIX):
            return control.handle(self, request)
        if request.path.startswith("/images/"):
            return pages.image(request.path, self.listeners.image_label)
        keys = self.counters.enter(request.path, self.accounts.whose(request))
        try:
            return self.faults.serve(request, self._route)
        finally:
            self.counters.leave(keys)

    def _route(self, request: Request) -> Response:
        if request.path.startswith("/v1/"):
            return self.web_api.handle(request)
        routes = {
            "/": {"GET": lambda _: pages.index(self.auth_base_url, self.api_base_url)},
            "/authorize": {
                "GET": self.accounts.authorize_get,
                "POST": self.accounts.authorize_post,
            },
            "/api/token": {"POST": self.accounts.token},
        }
        methods = routes.get(request.path)
        if methods is None:
            return pages.error(404, "Not found")
        handler = methods.get(request.method)
        if handler is None:
            return pages.error(405, "Method not allowed")
        return handler(request)

    # -- listeners --

    def add_listeners(self, n: int, prefix: str = "listener") -> list[str]:
        """Generate ``n`` more ordinary listeners (``listener-0001``...); returns their ids.

        Their data is built on first use, so thousands cost nothing up front.
        """
        return self.listeners.generate(n, prefix)

    def listener_ids(self) -> list[str]:
        return self.listeners.ids()

    def listener(self, listener_id: str) -> data.Listener:
        """The demo data of one listener; ValueError if unknown."""
        return self.listeners.get(listener_id)

    def set_allowed(self, listener_id: str, allowed: bool) -> None:
        """Put a listener on the app's allow-list, or take them off it."""
        self.listeners.set_allowed(listener_id, allowed)

    def add_plays(
        self,
        listener_id: str,
        n: int = 1,
        played_at: list[datetime] | None = None,
        track_ids: list[str] | None = None,
    ) -> list[dict]:
        """The listener plays more (their recently played moves on): ``n`` tracks back to
        back ending now, or one at each of ``played_at`` (aware datetimes); the tracks
        are ``track_ids`` in turn, else the listener's own in turn. Returns the plays
        added, oldest first, as ``{"played_at", "track_id", "uri", "name", "artist",
        "album", "duration_ms"}``."""
        listener = self.listeners.get(listener_id)
        added = self.listeners.add_plays(listener, played_at, n, track_ids)
        return [
            {
                "played_at": data.format_timestamp(moment),
                "track_id": play.track.id,
                "uri": f"spotify:track:{play.track.id}",
                "name": play.track.name,
                "artist": play.track.artists[0].name if play.track.artists else None,
                "album": play.track.album.name if play.track.album else None,
                "duration_ms": play.track.duration_ms,
            }
            for moment, play in added
        ]

    def keep_listening(self, every_seconds: float | None) -> None:
        """Demo mode: every listener plays a track every ``every_seconds`` (None: stop)."""
        self.listeners.keep_listening(every_seconds)

    # -- faults --

    def set_latency(self, seconds: float) -> None:
        """Add ``seconds`` to every Web API and token call."""
        self.faults.set_latency(seconds)

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
        self.faults.fail_next(path, n, status, retry_after, reason)

    def hang_next(self, path: str, n: int = 1, seconds: float = 30.0) -> None:
        """The next ``n`` calls of ``path`` wait ``seconds`` before answering normally."""
        self.faults.hang_next(path, n, seconds)

    def malformed_next(self, path: str, n: int = 1) -> None:
        """The next ``n`` calls of ``path`` answer 200 with a body that is not JSON."""
        self.faults.malformed_next(path, n)

    def answer_next(
        self,
        path: str,
        n: int = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        """The next ``n`` calls of ``path`` answer exactly ``status``, ``headers`` and ``body``
        (only Content-Length added): what no well-behaved fault covers."""
        self.faults.answer_next(path, n, status, headers, body)

    # -- tokens --

    def set_rotation(self, enabled: bool) -> None:
        """Whether a refresh answers with a new refresh token (killing the old one)."""
        self.accounts.set_rotation(enabled)

    def expire_access_tokens(self, listener_id: str) -> None:
        """The listener's current access tokens answer 401 "The access token expired"."""
        self.accounts.expire_access_tokens(listener_id)

    def revoke(self, listener_id: str) -> None:
        """Kill the listener's access and refresh tokens (refresh -> invalid_grant)."""
        self.accounts.revoke(listener_id)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token ever issued (to grep logs and pages for)."""
        return self.accounts.issued_tokens()

    def current_tokens(self, listener_id: str) -> dict[str, list[str]]:
        """The listener's live tokens, oldest first: ``{"access": [...], "refresh": [...]}``."""
        return self.accounts.current_tokens(listener_id)

    def authorize_code(
        self, listener_id: str, redirect_uri: str, scope: str = DEFAULT_SCOPE
    ) -> str:
        """An authorization code, as if ``listener_id`` had approved at /authorize."""
        return self.accounts.authorize_code(listener_id, redirect_uri, scope)

    # -- counters and reset --

    def calls(self, path: str | None = None, listener: str | None = None) -> int:
        """How many requests came for ``path`` and/or ``listener`` (None: any)."""
        return self.counters.calls(path, listener)

    def max_concurrency(self, path: str | None = None, listener: str | None = None) -> int:
        """The most requests for ``path``/``listener`` that were in flight at once."""
        return self.counters.max_concurrency(path, listener)

    def reset_counters(self) -> None:
        self.counters.reset()

    def reset(self, tokens: bool = False) -> None:
        """Forget faults, latency, rotation and allow-list changes, plays added, and counters.

        Listeners (also added ones) stay; codes and tokens stay unless ``tokens``.
        """
        self.faults.reset()
        self.accounts.reset(tokens=tokens)
        self.listeners.reset_allowed()
        self.listeners.forget_plays()
        self.counters.reset()
        if tokens:
            self.listeners.forget_logins()


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
            self._write(pages.error(400, "Bad Content-Length"))
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
            response = ApiError(500, "Fake Spotify bug").response()
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
