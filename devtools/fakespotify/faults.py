"""Faults tests ask for: latency on every call, and for the next calls of one path
an error, a hang, a body that is not JSON, or any raw answer at all.

Sleeps (latency, hangs) happen outside the lock and are cut short by
:meth:`Faults.reset` and :meth:`Faults.wake_sleepers`, so a hanging call never
stalls the others and never outlives the test that asked for it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from devtools.fakespotify import pages
from devtools.fakespotify.wire import JSON, Request, Response

# The transport sets these itself; a raw answer giving them would send them twice.
_TRANSPORT_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class Fault:
    kind: str  # "fail", "hang", "malformed" or "raw"
    status: int = 200
    retry_after: int | None = None
    reason: str | None = None
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def response(self, path: str) -> Response:
        """The answer in place of the real one (a hang answers normally after its sleep)."""
        if self.kind == "raw":
            return Response(self.status, self.body, dict(self.headers))
        if self.kind == "malformed":
            return Response(200, b'{"items": [{"id": "broken', {"Content-Type": JSON})
        phrase = _phrase(self.status)
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if path.startswith("/v1/"):
            error: dict = {"status": self.status, "message": phrase}
            if self.status == 429:
                error["message"] = "API rate limit exceeded"
            if self.reason:
                error["reason"] = self.reason
            return Response.json(self.status, {"error": error}, **headers)
        if path == "/api/token":
            code = "temporarily_unavailable" if self.status >= 500 else "invalid_request"
            payload = {"error": code, "error_description": phrase}
            return Response.json(self.status, payload, **headers)
        return pages.error(self.status, phrase, **headers)


class Faults:
    """Latency and per-path queues of faults, behind one lock."""

    def __init__(self, latency: float = 0.0):
        self._lock = threading.Lock()
        self._initial_latency = latency
        self._latency = latency
        self._queues: dict[str, deque[Fault]] = {}
        # Wakes sleeping latency/hang waits on reset() and wake_sleepers().
        self._wakeup = threading.Condition()
        self._generation = 0

    def serve(self, request: Request, answer: Callable[[Request], Response]) -> Response:
        """``answer(request)`` after the latency, unless a fault queued for its path
        answers instead. Latency applies to the Web API and the token endpoint.
        """
        if request.path.startswith("/v1/") or request.path == "/api/token":
            with self._lock:
                latency = self._latency
            self.sleep(latency)
        fault = self._take(request.path)
        if fault is None:
            return answer(request)
        if fault.kind == "hang":
            self.sleep(fault.seconds)
            return answer(request)
        return fault.response(request.path)

    # -- what tests ask for --

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, float(seconds))

    def fail_next(
        self,
        path: str,
        n: int = 1,
        status: int = 500,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        if not 400 <= int(status) <= 599:
            raise ValueError("status must be 400-599")
        self._queue(path, n, Fault("fail", int(status), retry_after, reason))

    def hang_next(self, path: str, n: int = 1, seconds: float = 30.0) -> None:
        self._queue(path, n, Fault("hang", seconds=float(seconds)))

    def malformed_next(self, path: str, n: int = 1) -> None:
        self._queue(path, n, Fault("malformed"))

    def answer_next(
        self,
        path: str,
        n: int = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        """The next ``n`` calls of ``path`` answer exactly ``status``, ``headers`` and ``body``.

        Nothing is added but Content-Length (so no Content-Type unless given).
        """
        if not 200 <= int(status) <= 599:
            raise ValueError("status must be 200-599")
        headers = dict(headers or {})
        for name, value in headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("headers must map names to strings")
            if name.lower() in _TRANSPORT_HEADERS or any(c in name + value for c in "\r\n"):
                raise ValueError(f"the fake does not send a raw {name!r} header")
            value.encode("latin-1")  # what http.server sends; UnicodeEncodeError is a ValueError
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, bytes):
            raise TypeError("body must be text or bytes")
        self._queue(path, n, Fault("raw", int(status), headers=headers, body=body))

    def _queue(self, path: str, n: int, fault: Fault) -> None:
        if not path.startswith("/") or int(n) < 1:
            raise ValueError("path must start with / and n must be >= 1")
        with self._lock:
            self._queues.setdefault(path, deque()).extend([fault] * int(n))

    def _take(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._queues.get(path)
            return queue.popleft() if queue else None

    def reset(self) -> None:
        """No faults, the starting latency, and every sleeping call woken."""
        with self._lock:
            self._queues.clear()
            self._latency = self._initial_latency
        self.wake_sleepers()

    # -- sleeping --

    def sleep(self, seconds: float) -> None:
        """Sleep outside the state lock; reset() and wake_sleepers() cut it short."""
        if seconds <= 0:
            return
        with self._wakeup:
            generation = self._generation
            self._wakeup.wait_for(lambda: self._generation != generation, timeout=seconds)

    def wake_sleepers(self) -> None:
        with self._wakeup:
            self._generation += 1
            self._wakeup.notify_all()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
