import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from fernet_fields import EncryptedField

from accounts.models import SpotifyToken


def forget_fernet_keys():
    """fernet_fields caches its keys on each field: drop them so FERNET_KEYS is read again."""
    for field in SpotifyToken._meta.get_fields():
        if isinstance(field, EncryptedField):
            for name in ("keys", "fernet_keys", "fernet"):
                field.__dict__.pop(name, None)


@pytest.fixture
def fernet_keys(settings):
    """Set FERNET_KEYS for one test: ``fernet_keys([new, old])``; restored afterwards."""

    def use(keys):
        settings.FERNET_KEYS = list(keys)
        forget_fernet_keys()

    yield use
    forget_fernet_keys()


class _TokenRewritingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.token_fields = {}


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards to the fake's accounts service; rewrites fields of /api/token answers."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._forward()

    def do_POST(self):
        self._forward()

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() in ("authorization", "content-type", "accept")
        }
        answer = requests.request(
            self.command,
            self.server.upstream + self.path,
            data=body or None,
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
        content = answer.content
        if self.path.startswith("/api/token") and answer.status_code == 200:
            fields = answer.json()
            fields.update(self.server.token_fields)
            content = json.dumps(fields).encode()
        self.send_response(answer.status_code)
        for name in ("Content-Type", "Location", "Cache-Control"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def token_answers(fake_spotify, settings):
    """Spotify's token endpoint, answering with fields of the test's choosing.

    ``token_answers.update(expires_in="soon")``: every /api/token answer (login and
    refresh) has those fields replaced, over real HTTP, in front of the fake.
    """
    proxy = _TokenRewritingProxy(fake_spotify.auth_base_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    settings.SPOTIFY_AUTH_BASE_URL = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        yield proxy.token_fields
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=10)
