"""Spotify's Retry-After, shared by everything that calls Spotify on a listener's behalf.

Spotify counts requests per app, so one 429 concerns every caller: the dashboard
(``spotify_stats.backoff``) and the history sync (``listening_history.sync``) both
set and honour one mark in the shared cache (every worker, every dyno), until when
no call is made. Lives here, beside the tokens, because both apps build on accounts.
"""

import time

from django.conf import settings
from django.core.cache import cache

# Not Spotify content and no listener's: until when Spotify's Retry-After holds.
BACKOFF_KEY = "spotify:backoff-until"


def hold_off(retry_after):
    """No call to Spotify for ``retry_after`` seconds (SPOTIFY_BACKOFF_DEFAULT_SECONDS
    when Spotify sent none; never longer than SPOTIFY_BACKOFF_MAX_SECONDS). Returns
    the seconds set."""
    seconds = min(
        retry_after or settings.SPOTIFY_BACKOFF_DEFAULT_SECONDS,
        settings.SPOTIFY_BACKOFF_MAX_SECONDS,
    )
    cache.set(BACKOFF_KEY, time.time() + seconds, timeout=seconds)
    return seconds


def seconds_left(until, now):
    """Whole seconds from ``now`` to the mark ``until`` (0 when none is in force)."""
    if not isinstance(until, int | float) or until <= now:
        return 0
    return max(1, round(until - now))


def backoff_remaining():
    """Seconds left of a Retry-After Spotify gave Euterpe (0 when none is in force)."""
    return seconds_left(cache.get(BACKOFF_KEY), time.time())
