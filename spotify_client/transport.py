"""How Euterpe talks to Spotify: one pooled session, timeouts that fit a deadline,
the retry policy, and Spotify's error answers turned into domain errors.

Every endpoint function calls :func:`request`, which never lets a ``requests``
exception out. Settings are read at call time: ``SPOTIFY_API_BASE_URL`` and
``SPOTIFY_WAITING_THREADS``.

Each call may carry ``deadline``: an absolute ``time.monotonic()`` value by
which the caller needs an answer. Timeouts shrink to fit it, and a retry is
made only if it still fits.

Retry policy (all of it lives in :func:`request`):

- 5xx, timeouts and connection errors: one retry, if the deadline leaves
  room. A POST (the token refresh) is retried only when the request surely
  never reached Spotify, because a refresh that did arrive may have rotated
  the refresh token already.
- 429: sleep ``Retry-After`` and retry once, only if that fits inside the
  deadline; without a deadline, raise :class:`RateLimited` at once.
- Other 4xx: never.

At most ``SPOTIFY_WAITING_THREADS`` threads of a process wait on Spotify at
once (:func:`waiting_slot`); a call that finds none free raises
:class:`SpotifyBusy` at once.

Tokens are never logged: only the method, the path, the status and the time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from spotify_client.errors import (
    BadResponse,
    NotOnAllowList,
    RateLimited,
    SpotifyBusy,
    SpotifyError,
    SpotifyUnavailable,
    TokenEndpointError,
    TokenExpired,
    TokenRevoked,
)
from spotify_client.objects import _dict, _str

# Named as before the client had a package of its own, so that log lines (and
# the searches and alerts built on them) stay as they were.
logger = logging.getLogger("spotify_stats.client")

MAX_LIMIT = 50
# Failures of the connection, not of the answer: worth one more try.
_NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
# A retry is pointless with less than this left before the deadline.
MIN_ATTEMPT_SECONDS = 0.5
POOL_SIZE = 32


def api_url(path: str) -> str:
    return f"{settings.SPOTIFY_API_BASE_URL.rstrip('/')}{path}"


def check_paging(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_LIMIT}, not {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset}")


_session: requests.Session | None = None
_session_lock = threading.Lock()


def _get_session() -> requests.Session:
    """One pooled session for the process, so connections to Spotify are reused."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            # No urllib3 retries: the retry policy is request()'s alone.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session = session
        return _session


# --- how many threads wait on Spotify ---------------------------------------------

# Whether the current context (a request, and the fetch threads it starts with its
# context copied) holds one of the process's slots.
_holding_slot: ContextVar[bool] = ContextVar("spotify_waiting_slot", default=False)
_slots_lock = threading.Lock()
_slots_taken = 0


@contextmanager
def waiting_slot() -> Iterator[None]:
    """Hold one of this process's slots for waiting on Spotify, for the block.

    At most ``SPOTIFY_WAITING_THREADS`` (half of WEB_THREADS, never all) threads of a
    gunicorn worker wait on Spotify at once, so that when Spotify hangs at least one
    thread stays free for /health, warm pages, static files and the login page.
    Taking a slot never waits: with none free, SpotifyBusy is raised at once.

    Every call of this package takes one for itself unless its context holds one:
    a request holds one for all it asks Spotify (a dashboard's sections and its
    token refresh; a login's token exchange and profile), and threads started
    with its context copied (``contextvars.copy_context().run``) share it.
    Re-entering in a context that holds one is free.
    """
    global _slots_taken
    if _holding_slot.get():
        yield
        return
    with _slots_lock:
        if _slots_taken >= settings.SPOTIFY_WAITING_THREADS:
            raise SpotifyBusy("every thread that may wait on Spotify is waiting")
        _slots_taken += 1
    marker = _holding_slot.set(True)
    try:
        yield
    finally:
        _holding_slot.reset(marker)
        with _slots_lock:
            _slots_taken -= 1


def waiting_threads() -> int:
    """How many threads of this process hold a slot now."""
    with _slots_lock:
        return _slots_taken


# --- one call ----------------------------------------------------------------------


def request(method: str, url: str, **kwargs) -> dict:
    """:func:`_exchange` in a waiting slot (the caller's, or one of its own)."""
    with waiting_slot():
        return _exchange(method, url, **kwargs)


def _exchange(
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    params: dict | None = None,
    data: dict | None = None,
    auth: tuple[str, str] | None = None,
    deadline: float | None = None,
) -> dict:
    """Call Spotify once, maybe twice (see the module docstring); the JSON object.

    Raises the domain errors; never lets a requests exception out.
    """
    headers = {"Accept": "application/json"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    path = urlsplit(url).path
    for attempt in (1, 2):
        timeout = _timeouts(deadline, method, path)
        started = time.monotonic()
        try:
            response = _get_session().request(
                method,
                url,
                params=params,
                data=data,
                auth=auth,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # Only the class is logged: the message may carry the URL.
            logger.warning(
                "Spotify %s %s failed after %.3fs: %s",
                method,
                path,
                time.monotonic() - started,
                type(exc).__name__,
            )
            if not isinstance(exc, _NO_ANSWER):
                # Any other requests failure (a body that is not the gzip it claims,
                # an odd header, a bad base URL): unusable, and not worth a retry.
                raise BadResponse(f"Spotify's answer to {method} {path} was unusable") from exc
            may_retry = method == "GET" or _never_sent(exc)
            if attempt == 1 and may_retry and _has_room(deadline):
                continue
            raise SpotifyUnavailable(f"Spotify did not answer {method} {path}") from exc
        status = response.status_code
        logger.info("Spotify %s %s %s %.3fs", method, path, status, time.monotonic() - started)
        if status == 429:
            retry_after = _retry_after(response)
            if attempt == 1 and _fits(deadline, retry_after):
                time.sleep(retry_after)
                continue
            raise _error_for(response)
        if status >= 500:
            if attempt == 1 and method == "GET" and _has_room(deadline):
                continue
            raise SpotifyUnavailable(f"Spotify answered {status} to {method} {path}", status=status)
        if status >= 400 or status < 200:
            raise _error_for(response)
        return _json_object(response)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _timeouts(deadline: float | None, method: str, path: str) -> tuple[float, float]:
    """(connect, read) timeouts that end by ``deadline``; SpotifyUnavailable if it passed."""
    read, connect = READ_TIMEOUT, CONNECT_TIMEOUT
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SpotifyUnavailable(f"no time left for {method} {path}")
        read, connect = min(read, remaining), min(connect, remaining)
    return connect, read


def _has_room(deadline: float | None) -> bool:
    return deadline is None or deadline - time.monotonic() >= MIN_ATTEMPT_SECONDS


def _fits(deadline: float | None, retry_after: int | None) -> bool:
    """Whether sleeping ``retry_after`` and one more attempt fit before ``deadline``."""
    if deadline is None or retry_after is None:
        return False
    return time.monotonic() + retry_after + MIN_ATTEMPT_SECONDS <= deadline


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never made, so Spotify cannot have acted on it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    # isdigit() alone is true for "²", which int() refuses.
    return int(value) if value.isascii() and value.isdigit() else None


def _error_for(response: requests.Response) -> SpotifyError:
    """Translate an error answer (Web API or accounts service) into a domain error."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # the accounts service: {"error", "error_description"}
        description = _str(body.get("error_description")) or ""
        if error == "invalid_grant":
            return TokenRevoked(description or "invalid_grant", status=status)
        if status == 429:
            return RateLimited(_retry_after(response), message=description, status=status)
        return TokenEndpointError(f"{error}: {description}", status=status)
    details = _dict(error)
    message = _str(details.get("message")) or f"HTTP {status}"
    if status == 401:
        return TokenExpired(message, status=status)
    if status == 403 and "not registered" in message.lower():
        return NotOnAllowList(message, status=status)
    if status == 429:
        reason = _str(details.get("reason")) or _str(_dict(body).get("reason"))
        return RateLimited(_retry_after(response), reason=reason, message=message, status=status)
    return BadResponse(f"Spotify answered {status}: {message}", status=status)


def _json_object(response: requests.Response) -> dict:
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise BadResponse("Spotify's answer is not JSON", status=response.status_code) from exc
    if not isinstance(body, dict):
        raise BadResponse("Spotify's answer is not a JSON object", status=response.status_code)
    return body
