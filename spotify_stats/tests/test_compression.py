"""Pages go out gzip-compressed to browsers that accept it, as they are to the others,
with the same security headers either way."""

import gzip
import re

import pytest
from django.test import Client

from spotify_stats.tests.helpers import html_of

# The bound for the biggest dashboard (collector, 120 playlists) on the wire.
MAX_COLLECTOR_BYTES = 18 * 1024
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cache-Control",
)


def test_the_biggest_dashboard_goes_out_gzipped_and_small(browser_for):
    collector = browser_for("collector")
    plain = collector.get("/")  # fills the cache; Django's test client asks for no encoding

    packed = collector.get("/", headers={"Accept-Encoding": "gzip, deflate, br"})

    assert packed.status_code == 200
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    assert int(packed["Content-Length"]) == len(packed.content) <= MAX_COLLECTOR_BYTES
    html = gzip.decompress(packed.content).decode()
    assert "120 playlists" in html
    assert comparable(html) == comparable(html_of(plain))
    assert len(html_of(plain)) > 8 * len(packed.content)


def comparable(html):
    """The page without what changes from one view to the next: its CSRF tokens (masked
    anew in every response) and how long ago things happened."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r">(played|as of) [^<]+<", "><", html)


def test_a_client_that_accepts_no_gzip_gets_plain_html(browser_for):
    alice = browser_for("alice")

    for accepted in (None, "identity", "deflate, br"):
        headers = {"Accept-Encoding": accepted} if accepted else {}
        response = alice.get("/", headers=headers)

        assert response.status_code == 200
        assert not response.has_header("Content-Encoding")
        assert "Accept-Encoding" in response["Vary"]
        assert html_of(response).startswith("<!doctype html>")


@pytest.mark.parametrize("path", ["/", "/privacy", "/login"])
def test_security_headers_are_the_same_compressed_or_not(browser_for, path):
    browser = Client(headers={"X-Forwarded-Proto": "https"}) if path == "/login" else None
    browser = browser or browser_for("bob")
    plain = browser.get(path)

    packed = browser.get(path, headers={"Accept-Encoding": "gzip"})

    assert plain.status_code == packed.status_code == 200
    assert packed["Content-Encoding"] == "gzip"
    for header in SECURITY_HEADERS:
        assert packed[header] == plain[header], header
    assert "script-src 'self'" in packed["Content-Security-Policy"]
    assert gzip.decompress(packed.content).decode().startswith("<!doctype html>")


def test_a_short_answer_is_not_worth_compressing(browser_for):
    response = browser_for("alice").get("/health", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    assert response.json()["status"] == "healthy"
