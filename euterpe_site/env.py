"""Reading settings from the environment: a few tiny helpers that fail loudly.

Each returns the variable's value, its default when the variable is unset or
blank, or raises ImproperlyConfigured with a one-line message naming the
variable and the bad value. The entry points (manage.py, wsgi.py) turn that into
the line on stderr and a non-zero exit; tests call the helpers directly.
"""

import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_bool(name, default=False):
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name, default, *, minimum=0):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ImproperlyConfigured(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def env_rate(name, default):
    """A rate such as ``20/m`` (count per s, m, h or d; ``100/5m`` works too)."""
    value = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", value):
        raise ImproperlyConfigured(
            f"{name} must be a rate like 20/m (count/[n]s|m|h|d), got {value!r}"
        )
    return value


def env_float(name, default, *, minimum=0.0, maximum=1.0):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise ImproperlyConfigured(
            f"{name} must be a number from {minimum} to {maximum}, got {value!r}"
        )
    return number


def env_list(name, default=()):
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or list(default)


def env_url(name, default):
    value = os.environ.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ImproperlyConfigured(
            f"{name} must be an http(s) URL such as {default}, got {value!r}"
        )
    return value.rstrip("/")


# Plain http stays on the machine: `make run`, `make bench`, `make loadtest` and
# the browser tests run the fake Spotify and Euterpe on these.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def require_https(name, value, *, debug):
    """``value``; with ``debug`` off it must be https:// unless it names a loopback host."""
    parts = urlsplit(value)
    if not debug and parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ImproperlyConfigured(
            f"{name} must be an https:// URL with DEBUG off (plain http only on a loopback "
            f"address: 127.0.0.1, localhost, [::1]), got {value!r}"
        )
    return value
