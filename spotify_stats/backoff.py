"""What Spotify told every page lately: wait (a 429's Retry-After), or it hangs.

Both are marks in the shared cache (``cache.BACKOFF_KEY``, ``cache.STALLED_KEY``),
so they hold for every listener, every worker and every dyno: Spotify counts
requests per app, and an outage hangs every page alike.
"""

import time

from django.conf import settings
from django.core.cache import cache

import spotify_client
from accounts import spotify_backoff
from spotify_stats import cache as section_cache
from spotify_stats.cache import STALLED_KEY
from spotify_stats.log import logger

# A page whose failed sections waited until this close to the deadline waited it out.
STALL_TOLERANCE_SECONDS = 0.25


def note_rate_limit(results):
    """After Spotify answered 429, no page calls it until its Retry-After is over.

    Without a Retry-After, SPOTIFY_BACKOFF_DEFAULT_SECONDS; never longer than
    SPOTIFY_BACKOFF_MAX_SECONDS (``accounts.spotify_backoff``, which the history
    sync honours too).
    """
    waits = [
        result.retry_after or settings.SPOTIFY_BACKOFF_DEFAULT_SECONDS
        for result in results.values()
        if isinstance(result, spotify_client.RateLimited)
    ]
    if not waits:
        return
    seconds = spotify_backoff.hold_off(max(waits))
    logger.warning("Spotify asked Euterpe to slow down: no Spotify calls for %s s", seconds)


backoff_remaining = spotify_backoff.backoff_remaining
seconds_left = spotify_backoff.seconds_left


def ran_out_of_time(results, deadline):
    """Whether Spotify left a section unanswered until the page's deadline."""
    failed = any(isinstance(result, Exception) for result in results.values())
    return failed and time.monotonic() >= deadline - STALL_TOLERANCE_SECONDS


def note_stall(user, already_stalled):
    """Remember, for every worker and dyno, that Spotify is hanging.

    For SPOTIFY_STALL_SECONDS after sections went unanswered for
    SPOTIFY_STALLED_DEADLINE_SECONDS, or pages waited their whole deadline in
    vain, cold pages wait at most SPOTIFY_STALLED_DEADLINE_SECONDS: a Spotify outage
    then costs each view a few seconds instead of holding a gunicorn thread for
    the full deadline, so /health and warm pages keep being served. Set again
    while Spotify keeps hanging; it lapses on its own once Spotify answers.

    The mark shortens every listener's deadline, so it needs two listeners who saw
    Spotify stall within SPOTIFY_STALL_SECONDS: one listener whose own data is slow
    (pressing "Refresh now" in a loop, say) cannot set or keep it.
    """
    seconds = settings.SPOTIFY_STALL_SECONDS
    if not section_cache.second_stall_witness(user.pk, seconds=seconds):
        logger.info("Spotify stalled for user %s; no other listener saw it lately", user.pk)
        return
    cache.set(STALLED_KEY, True, timeout=seconds)
    if not already_stalled:
        logger.warning(
            "Spotify is not answering (a section waited %s s); for %s s pages wait at most %s s",
            settings.SPOTIFY_STALLED_DEADLINE_SECONDS,
            seconds,
            settings.SPOTIFY_STALLED_DEADLINE_SECONDS,
        )
