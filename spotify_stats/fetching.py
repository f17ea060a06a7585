"""Fetching the dashboard's sections from Spotify at once, within the page's deadline.

Every missing section is asked for at once in worker threads (a section that
pages asks for its further pages as soon as its first page tells the total).
Worker threads get only the access token and talk HTTP through the client:
they never touch the database, because connections are per thread. The token
is read, and refreshed once when Spotify refuses it, in the request thread
(``fetch_for_listener``).
"""

import contextvars
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings

import spotify_client
from accounts.tokens import fresh_access_token
from spotify_stats import sections
from spotify_stats.log import logger
from spotify_stats.sections import PAGE_SIZE, Paging

# A bound on a bogus `total`: 100 pages are 5,000 playlists.
MAX_PAGES = 100
# Five first-wave calls plus a few further pages in flight at once.
MAX_WORKERS = 8


class DeadlineExceeded(Exception):
    """Spotify had not answered a section when the page's deadline came."""


def fetch_for_listener(user, names, *, time_range, deadline, on_stall=None, on_done=None):
    """``fetch_sections`` with ``user``'s fresh token; on a 401, refresh once and
    fetch those sections again.

    When Spotify's token endpoint itself fails (down, rate limited, malformed),
    the sections that needed the token fail with that error: a message each,
    never a 500. Raises ``NotOnAllowList`` when Spotify refuses the listener.
    """
    try:
        token = fresh_access_token(user)
    except spotify_client.SpotifyError as error:
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
    expired = [
        name for name, result in results.items() if isinstance(result, spotify_client.TokenExpired)
    ]
    if expired:
        logger.info("Spotify refused the access token of user %s; refreshing once", user.pk)
        try:
            token = fresh_access_token(user, rejected_token=token)
        except spotify_client.SpotifyError as error:
            logger.warning("Token refresh for user %s failed: %r", user.pk, error)
            results.update(dict.fromkeys(expired, error))
        else:
            results.update(
                fetch_sections(
                    token, expired, time_range=time_range, deadline=deadline, on_done=on_done
                )
            )
    for result in results.values():
        if isinstance(result, spotify_client.NotOnAllowList):
            raise result
    return results


def fetch_sections(
    token, names, *, time_range, deadline, stall_at=None, on_stall=None, on_done=None
):
    """Fetch the named sections from Spotify concurrently; never waits past ``deadline``.

    ``on_stall()`` is called once if a section is still unanswered at ``stall_at``
    (while the page goes on waiting, up to ``deadline``); ``on_done(name, data)``
    as soon as a section's data is complete. Both run in the calling thread.

    Returns ``{name: data}``, where data is what the section's template gets
    (see ``sections.Paging``), or the ``SpotifyError`` the section failed with
    (``BadResponse`` for any other exception a fetch raised), or
    ``DeadlineExceeded``.
    """
    results = {}
    pending = {}  # future: (section, offset)
    pages = {}  # name: {offset: page}, for sections fetched page by page

    def complete(name, data):
        results[name] = data
        if on_done is not None:
            on_done(name, data)

    executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="spotify")

    def submit(section, offset=0):
        kwargs = {"deadline": deadline}
        if section.ranged:
            kwargs["time_range"] = time_range
        if section.paging is not Paging.ONE:
            kwargs["limit"] = PAGE_SIZE
        if section.paging is Paging.EVERY_PAGE:
            kwargs["offset"] = offset
            pages.setdefault(section.name, {})[offset] = None
        # With the caller's context: the fetch shares the request's waiting slot.
        future = executor.submit(contextvars.copy_context().run, section.fetch, token, **kwargs)
        pending[future] = (section, offset)

    try:
        for name in names:
            submit(sections.named(name))
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
                section, offset = pending.pop(future)
                name = section.name
                try:
                    value = future.result()
                except spotify_client.SpotifyError as error:
                    results.setdefault(name, error)
                    continue
                except Exception:
                    # Spotify's answer broke the client in a way it did not
                    # foresee: that section's message, never a 500 page.
                    logger.exception("Section %s failed unexpectedly", name)
                    results.setdefault(
                        name,
                        spotify_client.BadResponse(f"Spotify's answer for {name} was unusable"),
                    )
                    continue
                if section.paging is Paging.ONE:
                    complete(name, value)
                elif section.paging is Paging.FIRST_PAGE:
                    complete(name, value.items)
                elif name not in results:  # no other page of it failed already
                    pages[name][offset] = value
                    if offset == 0:
                        for further in _further_offsets(value):
                            submit(section, further)
                    if all(page is not None for page in pages[name].values()):
                        complete(name, _every_item(pages[name]))
    finally:
        # Stragglers keep their thread until the client's own timeout ends them;
        # nobody waits for them, and queued work never starts.
        executor.shutdown(wait=False, cancel_futures=True)

    for section, _ in pending.values():
        results.setdefault(section.name, DeadlineExceeded())
    return results


def _further_offsets(first_page):
    total = first_page.total or 0
    last = min(total, PAGE_SIZE * MAX_PAGES)
    return range(PAGE_SIZE, last, PAGE_SIZE)


def _every_item(pages):
    return [item for offset in sorted(pages) for item in pages[offset].items if item is not None]
