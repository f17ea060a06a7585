"""A section's HTML: rendered once from what Spotify sent, or a short message.

The HTML is Euterpe's own autoescaped template output (Spotify's text inside it
is escaped), so it is cached as is and marked safe when read back.
"""

import re
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

import spotify_client
from accounts.services import display_name
from spotify_stats import sections
from spotify_stats.fetching import DeadlineExceeded
from spotify_stats.log import logger
from spotify_stats.text import ago

# "played 12 minutes ago" must be true when the page is served, not when the
# section was rendered into the cache: the cached HTML carries markers, replaced
# on every view. Spotify's text is escaped in that HTML, so it cannot forge one.
_AGO_MARKER = re.compile(r"<!--ago:(-?\d+)-->")


@dataclass(frozen=True)
class Rendered:
    """One rendered section of the page.

    ``fetched_at`` is the epoch time the data came from Spotify, None when the
    section failed (``html`` is then its message).
    """

    name: str
    html: SafeString
    fetched_at: float | None

    @property
    def failed(self):
        return self.fetched_at is None


def render_section(name, data, *, user):
    """The section's HTML for what Spotify sent (autoescaped: Spotify text stays text)."""
    section = sections.named(name)
    context = {"user_name": display_name(user), "user_id": user.pk, section.variable: data}
    return render_to_string(section.template, context)


def failed_section(user, name, error, *, log=True):
    """The section's message in its place: why Spotify's data is missing."""
    if log:
        _log_failure(user, name, error)
    section = sections.named(name)
    context = {
        "message": failure_message(error),
        "user_name": display_name(user),
        "user_id": user.pk,
        section.variable: None,
    }
    return Rendered(name, render_to_string(section.failed_template, context), None)


def _log_failure(user, name, error):
    if isinstance(error, DeadlineExceeded):
        logger.warning("Section %s of user %s: Spotify did not answer in time", name, user.pk)
    else:
        logger.warning("Section %s of user %s failed: %r", name, user.pk, error)


def failure_message(error):
    """A short, listener-facing sentence for why a section is missing."""
    if isinstance(error, spotify_client.RateLimited):
        return "Spotify asked Euterpe to slow down. This part will be back in a minute or two."
    if isinstance(error, spotify_client.BadResponse):
        return "Spotify sent an answer Euterpe could not read. Please try again later."
    if isinstance(error, spotify_client.TokenExpired):
        return "Spotify did not accept your login for this part. Logging in again will fix it."
    if isinstance(error, DeadlineExceeded | spotify_client.SpotifyBusy):
        return "Spotify took too long to answer. Try refreshing in a moment."
    return "Spotify is not answering right now. Try refreshing in a moment."


def fill_in_ago(section, now):
    """``section`` with its "… ago" markers filled in for a page served at ``now``
    (for a section declared with ``ages``; the others are returned as they are)."""
    if section.failed or not sections.named(section.name).ages:
        return section
    # Digits in, fixed words out: the result is as safe as the input.
    html = _AGO_MARKER.sub(lambda match: ago(now - int(match.group(1))), section.html)
    return Rendered(section.name, trusted(html), section.fetched_at)


def trusted(html):
    """Mark HTML that Euterpe rendered itself (autoescaped, then cached) as safe.

    Only ever for ``render_section`` output: Spotify's text never reaches here raw.
    """
    return mark_safe(html)  # noqa: S308
