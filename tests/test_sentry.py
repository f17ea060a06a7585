"""Optional error tracking: with SENTRY_DSN set, errors are reported with every
token, cookie, Authorization header and key scrubbed out (euterpe_site.sentry)."""

import json
import logging

import pytest
import sentry_sdk
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from sentry_sdk.transport import Transport

from devtools.processes import run_python
from euterpe_site import sentry
from tests.support import production_env, settings_error

ACCESS_TOKEN = "fakeAT-listener-0001-9f8e7d6c5b4a3f2e"
REFRESH_TOKEN = "fakeRT-listener-0001-1a2b3c4d5e6f7a8b"
SPOTIFY_STYLE_TOKEN = "BQDx7Ym2" * 20  # opaque, 160 base64url characters
OAUTH_CODE = "oauth-code-5d41402abc4b2a76"
SESSION_COOKIE = "s3ss10nc00k1eva1ue0123456789ab"
CSRF_COOKIE = "csrfc00k1eva1ue0123456789abcdef"
PASSWORD = "correct-horse-battery-staple"
# Loopback and unroutable: the capturing transport sends nothing anyway.
DSN = "https://public@127.0.0.1:9/1"


@csrf_exempt  # the POST carries secrets in its body; CSRF is not under test
def failing_view(request):
    """Fails with secrets in its locals, its message, a breadcrumb and extra."""
    access_token = ACCESS_TOKEN  # noqa: F841 (a local variable Sentry records)
    listener = {"refresh_token": REFRESH_TOKEN, "spotify_id": "listener-0001"}  # noqa: F841
    encryption_key = settings.ENCRYPTION_KEY  # noqa: F841
    keys_in_a_string = f"signing with {settings.SECRET_KEY}"  # noqa: F841
    opaque = SPOTIFY_STYLE_TOKEN  # noqa: F841
    logging.getLogger("euterpe.tests").warning("calling Spotify with %s", ACCESS_TOKEN)
    sentry_sdk.set_extra("token_in_extra", REFRESH_TOKEN)
    sentry_sdk.set_extra("note", f"key was {settings.ENCRYPTION_KEY}")
    raise RuntimeError(f"Spotify refused Bearer {ACCESS_TOKEN}")


# Keys that contain token, secret, authorization, cookie or password in any case,
# at any length, and the value each one carries in a test (short: no pattern finds them).
SECRET_KEYS = [
    "accessToken",
    "spotifyRefreshToken",
    "TOKEN",
    "clientSecret",
    "ProxyAuthorization",
    "setcookie",
    "cookieConsent",
    "newPassword",
    "USERPASSWORD",
    "x" * 200 + "Token" + "y" * 200,
]
HEADER_KEYS = ["X-Apitoken", "X-Clientsecret", "X-Upstreamauthorization", "X-Mycookie"]


def _value(key):
    return f"sentinel-{sum(map(ord, key)):05d}-{len(key):03d}"


@csrf_exempt
def scrubbing_view(request):
    """Fails with SECRET_KEYS' values in its locals (nested), a context, a breadcrumb
    and extra; the request carries them in its form data and HEADER_KEYS' in headers."""
    payload = {"listener": {"settings": [{key: _value(key) for key in SECRET_KEYS}]}}
    sentry_sdk.set_context("spotify", {"nested": {key: _value(key) for key in SECRET_KEYS}})
    sentry_sdk.add_breadcrumb(category="spotify", message="refresh", data=dict(payload))
    sentry_sdk.set_extra("payload", payload)
    raise RuntimeError("failed with secrets under odd keys")


urlpatterns = [path("fail", failing_view), path("scrub", scrubbing_view)]


class CapturingTransport(Transport):
    """Keeps every envelope in memory; nothing goes over the network."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def flush(self, timeout, callback=None):
        pass

    def kill(self):
        pass

    def payloads(self):
        return [item.payload.json for e in self.envelopes for item in e.items if item.payload.json]

    def events(self):
        """Error and message events (not the session counts sent beside them)."""
        return [payload for payload in self.payloads() if "event_id" in payload]


@pytest.fixture
def transport(settings, site_transport):
    """Sentry on, serving this module's failing views."""
    settings.ROOT_URLCONF = __name__
    return site_transport


@pytest.fixture
def site_transport(settings, db):
    """Sentry on, serving Euterpe's own URLs."""
    transport = CapturingTransport()
    sentry.init(
        dsn=DSN,
        environment="test",
        traces_sample_rate=0.0,
        secrets=[settings.SECRET_KEY, settings.ENCRYPTION_KEY, *settings.FERNET_KEYS],
        transport=transport,
    )
    yield transport
    # Leave no client behind for the rest of the suite.
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def _secrets():
    return [
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        SPOTIFY_STYLE_TOKEN,
        OAUTH_CODE,
        SESSION_COOKIE,
        CSRF_COOKIE,
        PASSWORD,
        settings.SECRET_KEY,
        settings.ENCRYPTION_KEY,
        *settings.FERNET_KEYS,
    ]


def _through_wsgi(request):
    """Serve a RequestFactory request through Django's real WSGI handler, which
    Sentry's Django integration wraps (the test client bypasses it)."""
    status = []
    # As django.test.Client does: keep the test's transaction and connection.
    request_started.disconnect(close_old_connections)
    try:
        body = WSGIHandler()(request.environ, lambda s, headers: status.append(s))
        b"".join(body)
    finally:
        request_started.connect(close_old_connections)
    return int(status[0].split()[0])


def test_an_error_reaches_sentry_with_every_secret_scrubbed(transport):
    request = RequestFactory().post(
        f"/fail?code={OAUTH_CODE}&access_token={ACCESS_TOKEN}&state=ok",
        {"refresh_token": REFRESH_TOKEN, "password": PASSWORD, "note": SPOTIFY_STYLE_TOKEN},
        headers={
            "X-Forwarded-Proto": "https",
            "Authorization": f"Bearer {ACCESS_TOKEN}",
            "Cookie": f"sessionid={SESSION_COOKIE}; csrftoken={CSRF_COOKIE}",
            "User-Agent": "pytest",
        },
    )

    status = _through_wsgi(request)
    sentry_sdk.flush()

    assert status == 500
    events = [p for p in transport.payloads() if p.get("exception")]
    assert len(events) == 1
    event = events[0]
    # The report is useful: the error, its frames with their variables, the request.
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    failing = next(f for f in frames if f["function"] == "failing_view")
    assert failing["vars"]["access_token"] == sentry.FILTERED
    assert failing["vars"]["encryption_key"] == sentry.FILTERED
    assert event["request"]["url"].endswith("/fail")
    assert event["request"]["headers"]["User-Agent"] == "pytest"
    assert "state=ok" in event["request"]["query_string"]
    assert any("calling Spotify" in c.get("message", "") for c in event["breadcrumbs"]["values"])
    # ...and carries no secret anywhere, in any envelope.
    everything = json.dumps(transport.payloads())
    for secret in _secrets():
        assert secret not in everything


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"access_token": "abc"}, {"access_token": "[Filtered]"}),
        ({"HTTP_AUTHORIZATION": "Bearer x"}, {"HTTP_AUTHORIZATION": "[Filtered]"}),
        ({"Cookie": "sessionid=x"}, {"Cookie": "[Filtered]"}),
        ({"ENCRYPTION_KEY": "k"}, {"ENCRYPTION_KEY": "[Filtered]"}),
        ({"code": "c"}, {"code": "[Filtered]"}),
        ([["Authorization", "Basic abc"]], [["Authorization", "[Filtered]"]]),
        ("GET /callback?code=abc&state=ok", "GET /callback?code=[Filtered]&state=ok"),
        ("refresh_token=fakeRT-x-1 ok", "refresh_token=[Filtered] ok"),
        ("header Bearer abc.def", "header Bearer [Filtered]"),
        ({"spotify_id": "alice", "status_code": 200}, {"spotify_id": "alice", "status_code": 200}),
    ],
)
def test_the_scrubber_filters_secret_keys_pairs_and_credentials(value, expected):
    scrubbed = sentry.Scrubber().scrub(value)

    assert scrubbed == expected


def test_the_scrubber_keeps_ordinary_names_and_paths():
    text = (
        "/app/.heroku/python/lib/python3.13/site-packages/django/core/handlers/exception.py "
        "test_it_refreshes_a_token_once_under_concurrency_and_keeps_the_other_listeners_data"
    )

    assert sentry.Scrubber().scrub_string(text) == text


def test_with_sentry_dsn_set_the_settings_start_sentry_with_the_scrubber():
    code = (
        "import django; django.setup(); import sentry_sdk; from django.conf import settings; "
        "o = sentry_sdk.get_client().options; "
        "c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.should_send_default_pii(), "
        "o['data_collection']['user_info'], o['traces_sample_rate'], o['environment'], "
        "settings.SECRET_KEY in o['before_send'].secrets, "
        "settings.ENCRYPTION_KEY in o['before_send'].secrets)"
    )
    env = production_env(SENTRY_DSN=DSN, SENTRY_ENVIRONMENT="staging")

    result = run_python(code, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False", "0.0", "staging", "True", "True"]


def test_without_sentry_dsn_sentry_stays_off():
    code = (
        "import django; django.setup(); import sentry_sdk; "
        "print(sentry_sdk.get_client().is_active())"
    )

    result = run_python(code, production_env())

    assert result.stdout.strip() == "False", result.stderr


def test_a_bad_traces_sample_rate_stops_start_up_saying_what_is_wrong():
    # The rate is read before Sentry would start, so this runs in the test's process.
    assert settings_error(SENTRY_DSN=DSN, SENTRY_TRACES_SAMPLE_RATE="all") == (
        "SENTRY_TRACES_SAMPLE_RATE must be a number from 0.0 to 1.0, got 'all'"
    )


# Keys that name a secret, wherever they are ---------------------------------------


@pytest.mark.parametrize("key", SECRET_KEYS + HEADER_KEYS)
def test_the_scrubber_filters_keys_that_contain_a_secret_word_in_any_case(key):
    event = {"a": {"b": [{key: _value(key)}, [key, _value(key)]]}}

    assert sentry.Scrubber().scrub(event) == {
        "a": {"b": [{key: sentry.FILTERED}, [key, sentry.FILTERED]]}
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("?accessToken=abc&x=1", "?accessToken=[Filtered]&x=1"),
        ("clientSecret=s3 ok", "clientSecret=[Filtered] ok"),
        ('{"newPassword": "hunter2", "name": "a"}', '{"newPassword": "[Filtered]", "name": "a"}'),
        ("{'cookieConsent': 'yes'}", "{'cookieConsent': '[Filtered]'}"),
    ],
)
def test_the_scrubber_filters_such_keys_in_query_strings_and_json_text(text, expected):
    assert sentry.Scrubber().scrub_string(text) == expected


def test_values_under_secret_keys_never_leave_from_data_headers_contexts_crumbs_or_locals(
    transport,
):
    request = RequestFactory().post(
        "/scrub",
        {key: _value(key) for key in SECRET_KEYS},
        headers={
            "X-Forwarded-Proto": "https",
            **{key: _value(key) for key in HEADER_KEYS},
        },
    )

    assert _through_wsgi(request) == 500
    sentry_sdk.flush()

    events = [p for p in transport.payloads() if p.get("exception")]
    assert len(events) == 1
    event = events[0]
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    failing = next(f for f in frames if f["function"] == "scrubbing_view")
    assert "payload" in failing["vars"]
    assert event["contexts"]["spotify"]["nested"]
    assert event["request"]["data"]
    assert any(c.get("category") == "spotify" for c in event["breadcrumbs"]["values"])
    everything = json.dumps(transport.payloads())
    leaked = [key for key in SECRET_KEYS + HEADER_KEYS if _value(key) in everything]
    assert leaked == []


# Alerts that strangers cannot trigger -------------------------------------------------


def test_a_bad_host_header_is_not_sent_to_sentry(site_transport):
    request = RequestFactory().get(
        "/health", headers={"Host": "evil.example", "X-Forwarded-Proto": "https"}
    )

    assert _through_wsgi(request) == 400
    sentry_sdk.flush()

    assert site_transport.events() == []


def test_a_strangers_callback_error_is_not_sent_to_sentry(site_transport, fake_spotify):
    request = RequestFactory().get(
        "/callback?error=invalid_client", headers={"X-Forwarded-Proto": "https"}
    )

    assert _through_wsgi(request) == 400
    sentry_sdk.flush()

    assert site_transport.events() == []


def test_an_error_still_reaches_sentry_after_a_bad_host(transport):
    bad = RequestFactory().get("/fail", headers={"Host": "evil.example"})
    _through_wsgi(bad)

    assert _through_wsgi(RequestFactory().get("/fail", headers={"X-Forwarded-Proto": "https"}))
    sentry_sdk.flush()

    events = [p for p in transport.payloads() if p.get("exception")]
    assert [e["exception"]["values"][-1]["type"] for e in events] == ["RuntimeError"]
