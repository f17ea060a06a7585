"""Optional error tracking: sentry-sdk with every secret scrubbed before an event leaves.

settings.py calls ``init()`` when SENTRY_DSN is set. sentry-sdk's own scrubbing
(PII off, its default) drops cookies and a fixed list of header and key
names; ``Scrubber`` goes further, over the whole event (request data, headers,
query strings, stack-frame local variables, breadcrumbs, extra, contexts):

- values under secret-looking keys become ``[Filtered]``: any key that contains
  token, secret, authorization, cookie or password in any case (accessToken,
  X-Apitoken, USERPASSWORD), and keys made of words such as key, session, csrf,
  code;
- in any string: the process's own secrets (SECRET_KEY and its fallbacks, the
  ENCRYPTION_KEY keys, the Spotify client secret, OPS_TOKEN), ``Bearer ...``
  credentials, ``name=value`` pairs with a secret-looking name, the fake
  Spotify's ``fakeAT-``/``fakeRT-`` tokens and any long opaque run of
  base64url characters (Spotify's tokens, Fernet ciphertexts) are replaced; so
  are the values of ``name=value`` and JSON ``"name": value`` pairs whose name
  contains one of those five words.

Noise that strangers can cause is not sent: a bad Host header (DisallowedHost).
"""

import re

FILTERED = "[Filtered]"

# Key names whose value is never sent, matched after lower-casing and turning
# "-" into "_": the whole name, or a "_"-separated part of it (oauth_token,
# HTTP_AUTHORIZATION, session_key, ENCRYPTION_KEY).
SECRET_WORDS = {
    "token",
    "tokens",
    "secret",
    "secrets",
    "password",
    "passwd",
    "key",
    "keys",
    "authorization",
    "auth",
    "cookie",
    "cookies",
    "session",
    "sessionid",
    "csrftoken",
    "csrfmiddlewaretoken",
    "csrf",
    "credentials",
    "signature",
    "dsn",
}
# Whole names only: an OAuth code is a secret, a status_code is not.
SECRET_NAMES = {"code", "auth_code", "authorization_code"}
# Anywhere in a name, in any case: accessToken, clientSecret, X-Upstreamauthorization.
SECRET_PARTS = ("token", "secret", "authorization", "cookie", "password")
CONTAINS_PART = rf"[\w-]*(?:{'|'.join(SECRET_PARTS)})[\w-]*"
SECRET_NAME = "|".join(sorted(SECRET_WORDS | SECRET_NAMES | {r"\w*key", CONTAINS_PART}))
SECRET_PAIR = re.compile(rf"(?i)\b((?:{SECRET_NAME})=)[^&\s'\"]+")
# "accessToken": "..." in JSON (or a repr) that reached Sentry as text.
QUOTED_PAIR = re.compile(rf"""(?i)((["'])(?:{CONTAINS_PART})\2\s*:\s*)(["'])(?:(?!\3).)*\3""")
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",]+")
FAKE_TOKEN = re.compile(r"fake(?:AT|RT)-[\w-]+")
# Spotify's access (~200 chars) and refresh (~130) tokens, Fernet ciphertexts:
# long base64url runs with a digit and a capital, which names and paths lack.
OPAQUE = re.compile(r"(?=[\w=-]*\d)(?=[\w=-]*[A-Z])[\w=-]{60,}", re.ASCII)


def secret_key_name(name):
    """Whether a dict key names something that must not leave the process."""
    normalised = str(name).lower().replace("-", "_")
    if normalised in SECRET_WORDS or normalised in SECRET_NAMES:
        return True
    if any(part in normalised for part in SECRET_PARTS):
        return True
    return any(part in SECRET_WORDS for part in normalised.split("_") if part)


class Scrubber:
    """``before_send`` (and ``before_send_transaction``): returns a scrubbed event.

    ``secrets`` are literal values (SECRET_KEY, the encryption keys...) removed
    wherever they appear in a string.
    """

    def __init__(self, secrets=()):
        # Longest first, so that a key that contains another goes whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def __call__(self, event, hint=None):
        if _disallowed_host(event, hint):
            return None
        return self.scrub(event)

    def scrub(self, value):
        if isinstance(value, dict):
            return {
                key: FILTERED
                if secret_key_name(key) and item not in (None, "", {}, [])
                else self.scrub(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            scrubbed = [self.scrub(item) for item in value]
            return self._scrub_pairs(scrubbed)
        if isinstance(value, str):
            return self.scrub_string(value)
        return value

    def _scrub_pairs(self, items):
        # Headers and query strings arrive as [name, value] pairs too.
        if len(items) == 2 and isinstance(items[0], str) and secret_key_name(items[0]):
            return [items[0], FILTERED]
        return items

    def scrub_string(self, text):
        for secret in self.secrets:
            text = text.replace(secret, FILTERED)
        text = SECRET_PAIR.sub(rf"\1{FILTERED}", text)
        text = QUOTED_PAIR.sub(rf"\1\3{FILTERED}\3", text)
        text = BEARER.sub(rf"\1 {FILTERED}", text)
        text = FAKE_TOKEN.sub(FILTERED, text)
        return OPAQUE.sub(FILTERED, text)


# Django logs a bad Host header at ERROR here; anyone can send one.
DISALLOWED_HOST_LOGGER = "django.security.DisallowedHost"


def _disallowed_host(event, hint):
    from django.core.exceptions import DisallowedHost

    exc_info = (hint or {}).get("exc_info")
    if exc_info and isinstance(exc_info[1], DisallowedHost):
        return True
    return event.get("logger") == DISALLOWED_HOST_LOGGER


def init(*, dsn, environment, traces_sample_rate, secrets, **options):
    """Start sentry-sdk with the Django integration and the scrubber.

    ``options`` go to ``sentry_sdk.init`` as they are (tests pass a transport).
    """
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import ignore_logger

    ignore_logger(DISALLOWED_HOST_LOGGER)

    scrubber = Scrubber(secrets)
    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        integrations=[DjangoIntegration()],
        # send_default_pii stays unset, which means off (no user, IP or
        # cookies). sentry-sdk 2.75 warns when it is passed at all, and an
        # explicit data_collection would switch its own EventScrubber off.
        traces_sample_rate=traces_sample_rate,
        before_send=scrubber,
        before_send_transaction=scrubber,
        before_breadcrumb=lambda crumb, hint: scrubber.scrub(crumb),
        **options,
    )
    return scrubber
