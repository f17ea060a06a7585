"""A listener's dashboard: every section, from the cache or from Spotify.

- Warm: one ``cache.get_many`` finds every section's rendered HTML; no Spotify
  call and no token lookup.
- Cold (or partly cold): the missing sections are fetched at once
  (``spotify_stats.fetching``), each rendered in the request thread as soon as
  its data is in, and the successful ones cached for SPOTIFY_CACHE_SECONDS.
- The whole page answers within SPOTIFY_PAGE_DEADLINE_SECONDS (the shorter
  SPOTIFY_STALLED_DEADLINE_SECONDS while Spotify hangs, ``spotify_stats.backoff``):
  a section still waiting on Spotify then is given up. A failed section renders a
  short message in its place and is never cached.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

import spotify_client
from spotify_stats import backoff, fetching, sections
from spotify_stats import cache as section_cache
from spotify_stats.cache import BACKOFF_KEY, STALLED_KEY
from spotify_stats.log import logger
from spotify_stats.rendering import (
    Rendered,
    failed_section,
    fill_in_ago,
    render_section,
    trusted,
)

# What the page calls each of Spotify's time ranges.
TIME_RANGE_LABELS = dict(
    zip(
        spotify_client.TIME_RANGES,
        ("Last 4 weeks", "Last 6 months", "Last 12 months"),
        strict=True,
    )
)
DEFAULT_TIME_RANGE = "medium_term"


@dataclass(frozen=True)
class Dashboard:
    time_range: str
    sections: dict[str, Rendered]
    # The oldest data shown, epoch seconds; None when every section failed.
    as_of: float | None
    # When the page was put together, epoch seconds.
    now: float


def parse_time_range(value):
    """The time range a query string asks for; anything unknown is the default."""
    return value if value in TIME_RANGE_LABELS else DEFAULT_TIME_RANGE


def load_dashboard(user, *, time_range, now=None):
    """Every section of ``user``'s dashboard for ``time_range``, from the cache or Spotify.

    Raises ``NotOnAllowList`` when Spotify refuses the listener (the app's
    Development Mode allow-list), and lets ``accounts.tokens.ReauthenticationRequired``
    through when the listener must log in again. Every other Spotify failure
    becomes that section's message.
    """
    now = time.time() if now is None else now
    started = time.monotonic()
    cache_seconds = settings.SPOTIFY_CACHE_SECONDS
    keys = {
        section.name: section_cache.key_for(user.pk, section, time_range)
        for section in sections.SECTIONS
    }

    # One query finds the cached sections and what Spotify told every page lately.
    cached_keys = list(keys.values()) if cache_seconds > 0 else []
    found = cache.get_many([*cached_keys, STALLED_KEY, BACKOFF_KEY])
    # Sections are only looked up when caching is on, so found holds none otherwise.
    shown = {
        name: _cached(name, found[key])
        for name, key in keys.items()
        if section_cache.is_entry(found.get(key))
    }
    missing = [name for name in keys if name not in shown]
    if missing:
        wait = backoff.seconds_left(found.get(BACKOFF_KEY), time.time())
        if wait:
            shown.update(_rate_limited_sections(user, missing, wait))
        else:
            shown.update(
                _fetch_missing(
                    user,
                    missing,
                    time_range=time_range,
                    keys=keys,
                    started=started,
                    stalled=STALLED_KEY in found,
                    cache_seconds=cache_seconds,
                )
            )

    shown = {name: fill_in_ago(section, now) for name, section in shown.items()}
    times = [section.fetched_at for section in shown.values() if not section.failed]
    return Dashboard(time_range=time_range, sections=shown, as_of=min(times, default=None), now=now)


def _cached(name, entry):
    html, fetched_at = section_cache.unpack(entry)
    return Rendered(name, trusted(html), fetched_at)


def _fetch_missing(user, names, *, time_range, keys, started, stalled, cache_seconds):
    """Fetch, render and cache the sections the cache did not hold."""
    deadline = started + (
        settings.SPOTIFY_STALLED_DEADLINE_SECONDS
        if stalled
        else settings.SPOTIFY_PAGE_DEADLINE_SECONDS
    )
    # Each section is rendered as soon as its data is in, while the request
    # thread would otherwise only wait for the slower ones.
    rendered = {}

    def on_done(name, data):
        rendered[name] = render_section(name, data, user=user)

    try:
        # One of the process's slots for threads waiting on Spotify, for the token
        # refresh and every section: with none free, the page answers at once.
        with spotify_client.waiting_slot():
            # Spotify is stalling when a section is unanswered after the short
            # deadline: say so at once, so that pages starting meanwhile use the
            # short deadline.
            results = fetching.fetch_for_listener(
                user,
                names,
                time_range=time_range,
                deadline=deadline,
                on_stall=lambda: backoff.note_stall(user, stalled),
                on_done=on_done,
            )
    except spotify_client.SpotifyBusy:
        return _busy_sections(user, names)
    if stalled and backoff.ran_out_of_time(results, deadline):
        backoff.note_stall(user, stalled)  # still hanging: keep the short deadline
    backoff.note_rate_limit(results)

    fetched_at = time.time()
    shown = {}
    fresh = {}
    for name in names:
        result = results[name]
        if isinstance(result, Exception):
            shown[name] = failed_section(user, name, result)
            continue
        html = rendered[name] if name in rendered else render_section(name, result, user=user)
        shown[name] = Rendered(name, html, fetched_at)
        fresh[keys[name]] = section_cache.pack(html, fetched_at)
    if fresh and cache_seconds > 0:
        # Not if the listener disconnected while the page waited on Spotify.
        section_cache.store_sections(user.pk, fresh, timeout=cache_seconds)
    return shown


def _busy_sections(user, names):
    """Sections not fetched, because every thread that may wait on Spotify is waiting."""
    logger.info(
        "Every Spotify slot of this process is taken: user %s's missing sections not fetched",
        user.pk,
    )
    error = spotify_client.SpotifyBusy()
    return {name: failed_section(user, name, error, log=False) for name in names}


def _rate_limited_sections(user, names, seconds):
    """Sections Spotify is not asked for, because it asked every caller to wait."""
    logger.info(
        "Spotify's Retry-After is in force for %s s more: user %s's missing sections wait",
        seconds,
        user.pk,
    )
    error = spotify_client.RateLimited(seconds)
    return {name: failed_section(user, name, error, log=False) for name in names}
