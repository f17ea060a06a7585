"""What the dashboard shows: each section fetched from Spotify, rendered once, cached.

A page is five sections: ``profile``, ``top_tracks`` and ``top_artists`` (for one
time range), ``playlists`` (every page of them) and ``recently_played``.

- Warm: one ``cache.get_many`` finds every section's rendered HTML; no Spotify
  call and no token lookup.
- Cold (or partly cold): the missing sections are fetched at once in worker
  threads (the playlists' further pages as soon as the first page tells the
  total), rendered in the request thread, and the successful ones cached for
  SPOTIFY_CACHE_SECONDS. Worker threads only talk HTTP through
  ``spotify_stats.client``; the token is read (and refreshed) in the request
  thread, because database connections are per thread.
- The whole page answers within SPOTIFY_PAGE_DEADLINE_SECONDS: a section still
  waiting on Spotify then is given up. A failed section renders a short message
  in its place and is never cached.
"""

import contextvars
import logging
import re
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from accounts.services import display_name
from accounts.tokens import fresh_access_token
from spotify_stats import cache as cache_sections
from spotify_stats import client
from spotify_stats.cache import BACKOFF_KEY, STALLED_KEY, section_key

logger = logging.getLogger(__name__)

TIME_RANGES = dict(
    zip(client.TIME_RANGES, ("Last 4 weeks", "Last 6 months", "Last 12 months"), strict=True)
)
DEFAULT_TIME_RANGE = "medium_term"
SECTIONS = (*cache_sections.SECTIONS, *cache_sections.RANGED_SECTIONS)
RANGED_SECTIONS = frozenset(cache_sections.RANGED_SECTIONS)

TOP_LIMIT = 50
PLAYLIST_PAGE_SIZE = 50
# A bound on a bogus `total`: 100 pages are 5,000 playlists.
MAX_PLAYLIST_PAGES = 100
RECENT_LIMIT = 50
# A page whose failed sections waited until this close to the deadline waited it out.
STALL_TOLERANCE_SECONDS = 0.25
# Five first-wave calls plus a few playlist pages in flight at once.
MAX_WORKERS = 8

# "played 12 minutes ago" must be true when the page is served, not when the
# section was rendered into the cache: the cached HTML carries markers, replaced
# on every view. Spotify's text is escaped in that HTML, so it cannot forge one.
_AGO_MARKER = re.compile(r"<!--ago:(-?\d+)-->")


class DeadlineExceeded(Exception):
    """Spotify had not answered a section when the page's deadline came."""


@dataclass(frozen=True)
class Section:
    """One rendered section of the page.

    ``html`` is Euterpe's own autoescaped template output (Spotify's text inside
    it is escaped). ``fetched_at`` is the epoch time the data came from Spotify,
    None when the section failed.
    """

    name: str
    html: SafeString
    fetched_at: float | None

    @property
    def failed(self):
        return self.fetched_at is None


@dataclass(frozen=True)
class Dashboard:
    time_range: str
    sections: dict[str, Section]
    # The oldest data shown, epoch seconds; None when every section failed.
    as_of: float | None
    # When the page was put together, epoch seconds.
    now: float


def parse_time_range(value):
    """The time range a query string asks for; anything unknown is the default."""
    return value if value in TIME_RANGES else DEFAULT_TIME_RANGE


def cache_key(user_id, name, time_range):
    return section_key(user_id, name, time_range if name in RANGED_SECTIONS else None)


def load_dashboard(user, *, time_range, now=None):
    """Every section of ``user``'s dashboard for ``time_range``, from the cache or Spotify.

    Raises ``client.NotOnAllowList`` when Spotify refuses the listener (the app's
    Development Mode allow-list), and lets ``accounts.tokens.ReauthenticationRequired``
    through when the listener must log in again. Every other Spotify failure
    becomes that section's message.
    """
    now = time.time() if now is None else now
    started = time.monotonic()
    cache_seconds = settings.SPOTIFY_CACHE_SECONDS
    keys = {name: cache_key(user.pk, name, time_range) for name in SECTIONS}

    # One query finds the cached sections and what Spotify told every page lately.
    cached_keys = list(keys.values()) if cache_seconds > 0 else []
    found = cache.get_many([*cached_keys, STALLED_KEY, BACKOFF_KEY])
    # Sections are only looked up when caching is on, so found holds none otherwise.
    sections = {name: _unpack(name, found[key]) for name, key in keys.items() if key in found}
    missing = [name for name in SECTIONS if name not in sections]
    if missing:
        backoff = _backoff_remaining(found.get(BACKOFF_KEY), time.time())
        if backoff:
            sections.update(_rate_limited_sections(user, missing, backoff))
        else:
            sections.update(
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

    recent = sections["recently_played"]
    if not recent.failed:
        sections["recently_played"] = Section(
            recent.name, _fill_in_ago(recent.html, now), recent.fetched_at
        )
    times = [section.fetched_at for section in sections.values() if not section.failed]
    return Dashboard(
        time_range=time_range, sections=sections, as_of=min(times, default=None), now=now
    )


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
        with client.waiting_slot():
            # Spotify is stalling when a section is unanswered after the short
            # deadline: say so at once, so that pages starting meanwhile use the
            # short deadline.
            results = _fetch_with_reactive_refresh(
                user,
                names,
                time_range,
                deadline,
                on_stall=lambda: _note_stall(user, stalled),
                on_done=on_done,
            )
    except client.SpotifyBusy:
        return _busy_sections(user, names)
    if stalled and _ran_out_of_time(results, deadline):
        _note_stall(user, stalled)  # still hanging: keep the short deadline
    _note_rate_limit(results)

    fetched_at = time.time()
    sections = {}
    fresh = {}
    for name in names:
        result = results[name]
        if isinstance(result, Exception):
            sections[name] = _failed_section(user, name, result)
            continue
        html = rendered[name] if name in rendered else render_section(name, result, user=user)
        sections[name] = Section(name, html, fetched_at)
        fresh[keys[name]] = _pack(html, fetched_at)
    if fresh and cache_seconds > 0:
        # Not if the listener disconnected while the page waited on Spotify.
        cache_sections.store_sections(user.pk, fresh, timeout=cache_seconds)
    return sections


def _busy_sections(user, names):
    """Sections not fetched, because every thread that may wait on Spotify is waiting."""
    logger.info(
        "Every Spotify slot of this process is taken: user %s's missing sections not fetched",
        user.pk,
    )
    error = client.SpotifyBusy()
    return {name: _failed_section(user, name, error, log=False) for name in names}


def _note_rate_limit(results):
    """After Spotify answered 429, no page calls it until its Retry-After is over.

    Spotify counts requests per app, so its Retry-After holds for every listener
    and every worker: it goes into the shared cache. Without a Retry-After,
    SPOTIFY_BACKOFF_DEFAULT_SECONDS; never longer than SPOTIFY_BACKOFF_MAX_SECONDS.
    """
    waits = [
        result.retry_after or settings.SPOTIFY_BACKOFF_DEFAULT_SECONDS
        for result in results.values()
        if isinstance(result, client.RateLimited)
    ]
    if not waits:
        return
    seconds = min(max(waits), settings.SPOTIFY_BACKOFF_MAX_SECONDS)
    cache.set(BACKOFF_KEY, time.time() + seconds, timeout=seconds)
    logger.warning("Spotify asked Euterpe to slow down: no Spotify calls for %s s", seconds)


def backoff_remaining():
    """Seconds left of a Retry-After Spotify gave Euterpe (0 when none is in force)."""
    return _backoff_remaining(cache.get(BACKOFF_KEY), time.time())


def _backoff_remaining(until, now):
    """Whole seconds left of Spotify's Retry-After (0 when none is in force)."""
    if not isinstance(until, int | float) or until <= now:
        return 0
    return max(1, round(until - now))


def _rate_limited_sections(user, names, seconds):
    """Sections Spotify is not asked for, because it asked every caller to wait."""
    logger.info(
        "Spotify's Retry-After is in force for %s s more: user %s's missing sections wait",
        seconds,
        user.pk,
    )
    error = client.RateLimited(seconds)
    return {name: _failed_section(user, name, error, log=False) for name in names}


def _ran_out_of_time(results, deadline):
    """Whether Spotify left a section unanswered until the page's deadline."""
    failed = any(isinstance(result, Exception) for result in results.values())
    return failed and time.monotonic() >= deadline - STALL_TOLERANCE_SECONDS


def _note_stall(user, already_stalled):
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
    if not cache_sections.second_stall_witness(user.pk, seconds=seconds):
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


def _pack(html, fetched_at):
    """A cache entry: the section's HTML, zlib-compressed (about 7x smaller, so a warm
    page moves less over the wire from the cache), and when Spotify sent its data."""
    return {"html_z": zlib.compress(html.encode(), 1), "fetched_at": fetched_at}


def _unpack(name, entry):
    return Section(name, _trusted(zlib.decompress(entry["html_z"]).decode()), entry["fetched_at"])


def _fetch_with_reactive_refresh(user, names, time_range, deadline, *, on_stall=None, on_done=None):
    """Fetch ``names`` with a fresh token; on a 401, refresh once and fetch those again.

    When Spotify's token endpoint itself fails (down, rate limited, malformed),
    the sections that needed the token fail with that error: a message each,
    never a 500.
    """
    try:
        token = fresh_access_token(user)
    except client.SpotifyError as error:
        logger.warning("Token refresh for user %s failed: %r", user.pk, error)
        return dict.fromkeys(names, error)
    results = fetch_sections(
        token,
        names,
        time_range=time_range,
        deadline=deadline,
        stall_at=time.monotonic() + settings.SPOTIFY_STALLED_DEADLINE_SECONDS,
        on_stall=on_stall,
        on_done=on_done,
    )
    expired = [name for name, result in results.items() if isinstance(result, client.TokenExpired)]
    if expired:
        logger.info("Spotify refused the access token of user %s; refreshing once", user.pk)
        try:
            token = fresh_access_token(user, rejected_token=token)
        except client.SpotifyError as error:
            logger.warning("Token refresh for user %s failed: %r", user.pk, error)
            results.update(dict.fromkeys(expired, error))
        else:
            results.update(
                fetch_sections(
                    token, expired, time_range=time_range, deadline=deadline, on_done=on_done
                )
            )
    refused = next(
        (result for result in results.values() if isinstance(result, client.NotOnAllowList)), None
    )
    if refused is not None:
        raise refused
    return results


def fetch_sections(
    token, names, *, time_range, deadline, stall_at=None, on_stall=None, on_done=None
):
    """Fetch the named sections from Spotify concurrently; never waits past ``deadline``.

    ``on_stall()`` is called once if a section is still unanswered at ``stall_at``
    (while the page goes on waiting, up to ``deadline``); ``on_done(name, data)``
    as soon as a section's data is complete. Both run in the calling thread.

    Returns ``{name: data}`` where data is what the section's template needs, or
    the ``client.SpotifyError`` the section failed with (``client.BadResponse``
    for any other exception a fetch raised), or ``DeadlineExceeded``.
    ``playlists`` is the list of every playlist: its first page is fetched with
    the other sections, the remaining pages all at once when it tells the total.
    Worker threads get only the token: they never touch the database.
    """
    results = {}
    pending = {}
    playlist_pages = {}
    playlist_offsets = {0}

    def complete(name, data):
        results[name] = data
        if on_done is not None:
            on_done(name, data)

    executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="spotify")

    def submit(name, function, **kwargs):
        # With the caller's context: the fetch shares the request's waiting slot.
        future = executor.submit(
            contextvars.copy_context().run, function, token, deadline=deadline, **kwargs
        )
        pending[future] = (name, kwargs)

    def submit_playlists_page(offset):
        submit("playlists", client.get_playlists_page, limit=PLAYLIST_PAGE_SIZE, offset=offset)

    try:
        for name in names:
            if name == "playlists":
                submit_playlists_page(0)
            elif name in RANGED_SECTIONS:
                submit(name, _FETCHERS[name], time_range=time_range, limit=TOP_LIMIT)
            elif name == "recently_played":
                submit(name, client.get_recently_played, limit=RECENT_LIMIT)
            else:
                submit(name, client.get_profile)
        while pending:
            now = time.monotonic()
            wake = deadline
            if on_stall is not None:
                if now >= stall_at:
                    on_stall()
                    on_stall = None
                else:
                    wake = min(wake, stall_at)
            if now >= deadline:
                break
            done, _ = wait(pending, timeout=wake - now, return_when=FIRST_COMPLETED)
            for future in done:
                name, kwargs = pending.pop(future)
                try:
                    value = future.result()
                except client.SpotifyError as error:
                    results.setdefault(name, error)
                    continue
                except Exception:
                    # Spotify's answer broke the client in a way it did not
                    # foresee: that section's message, never a 500 page.
                    logger.exception("Section %s failed unexpectedly", name)
                    results.setdefault(
                        name, client.BadResponse(f"Spotify's answer for {name} was unusable")
                    )
                    continue
                if name != "playlists":
                    complete(name, value)
                    continue
                if "playlists" in results:  # another page failed already
                    continue
                playlist_pages[kwargs["offset"]] = value
                if kwargs["offset"] == 0:
                    for offset in _remaining_playlist_offsets(value):
                        playlist_offsets.add(offset)
                        submit(
                            name, client.get_playlists_page, limit=PLAYLIST_PAGE_SIZE, offset=offset
                        )
                if playlist_pages.keys() == playlist_offsets:
                    complete(name, _all_playlists(playlist_pages))
    finally:
        # Stragglers keep their thread until the client's own timeout ends them;
        # nobody waits for them, and queued work never starts.
        executor.shutdown(wait=False, cancel_futures=True)

    for name, _ in pending.values():
        results.setdefault(name, DeadlineExceeded())
    return results


def _all_playlists(pages):
    return [
        playlist
        for offset in sorted(pages)
        for playlist in pages[offset].items
        if playlist is not None
    ]


def _remaining_playlist_offsets(first_page):
    total = first_page.total or 0
    last = min(total, PLAYLIST_PAGE_SIZE * MAX_PLAYLIST_PAGES)
    return range(PLAYLIST_PAGE_SIZE, last, PLAYLIST_PAGE_SIZE)


_FETCHERS = {
    "top_tracks": client.get_top_tracks,
    "top_artists": client.get_top_artists,
}


def render_section(name, data, *, user):
    """The section's HTML for what Spotify sent (autoescaped: Spotify text stays text)."""
    context = {"user_name": display_name(user), "user_id": user.pk}
    if name == "profile":
        context["profile"] = data
    elif name == "recently_played":
        context["plays"] = data.items
    elif name == "playlists":
        context["playlists"] = data
    else:
        context["items"] = data.items
    return render_to_string(f"spotify_stats/sections/{name}.html", context)


def _failed_section(user, name, error, *, log=True):
    if log:
        _log_failure(user, name, error)
    context = {
        "message": failure_message(error),
        "user_name": display_name(user),
        "user_id": user.pk,
        "profile": None,
    }
    template = "profile" if name == "profile" else "failed"
    return Section(name, render_to_string(f"spotify_stats/sections/{template}.html", context), None)


def _log_failure(user, name, error):
    if isinstance(error, DeadlineExceeded):
        logger.warning("Section %s of user %s: Spotify did not answer in time", name, user.pk)
    else:
        logger.warning("Section %s of user %s failed: %r", name, user.pk, error)


def failure_message(error):
    """A short, listener-facing sentence for why a section is missing."""
    if isinstance(error, client.RateLimited):
        return "Spotify asked Euterpe to slow down. This part will be back in a minute or two."
    if isinstance(error, client.BadResponse):
        return "Spotify sent an answer Euterpe could not read. Please try again later."
    if isinstance(error, client.TokenExpired):
        return "Spotify did not accept your login for this part. Logging in again will fix it."
    if isinstance(error, DeadlineExceeded | client.SpotifyBusy):
        return "Spotify took too long to answer. Try refreshing in a moment."
    return "Spotify is not answering right now. Try refreshing in a moment."


def ago(seconds):
    """'just now', '1 minute ago', '12 minutes ago', '3 hours ago', '2 days ago'."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = seconds // size
        if count:
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def _fill_in_ago(html, now):
    # Digits in, fixed words out: the result is as safe as the input.
    return _trusted(_AGO_MARKER.sub(lambda match: ago(now - int(match.group(1))), html))


def _trusted(html):
    """Mark HTML that Euterpe rendered itself (autoescaped, then cached) as safe.

    Only ever for ``render_section`` output: Spotify's text never reaches here raw.
    """
    return mark_safe(html)  # noqa: S308


def as_of_iso(epoch):
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
