"""What the fake's parts read and write: one request in, one response out.

The HTTP server (:mod:`devtools.fakespotify.server`) turns bytes into a
:class:`Request` and a :class:`Response` back into bytes; everything between
works on these two plain objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qsl

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"


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

    def bearer(self) -> str | None:
        """The token of ``Authorization: Bearer <token>``; None for anything else."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload, **headers: str) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(status, body, {"Content-Type": JSON, **headers})

    @classmethod
    def html(cls, status: int, text: str, **headers: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": HTML, **headers})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location, "Cache-Control": "no-store"})
