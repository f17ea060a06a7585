"""The dashboard's sections, one declaration each.

Each ``Section`` below says everything Euterpe needs to know about one part of
the page: which Spotify call fetches it, whether it depends on the time range,
how it pages, what its template calls the data and, for the cards, their title.
Fetching (``spotify_stats.fetching``), caching (``spotify_stats.cache``),
rendering (``spotify_stats.rendering``), the page (``dashboard.html``) and the
tests all read this list.

Adding a section is one entry here and one template,
``templates/spotify_stats/sections/<name>.html`` (see the README's
"Adding a stats section").
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import spotify_client

# Spotify's largest page.
PAGE_SIZE = 50


class Paging(Enum):
    """How a section's data comes from Spotify."""

    ONE = "one object"  # a single answer (the profile): the data is what it parses to
    FIRST_PAGE = "first page"  # one page of up to PAGE_SIZE items: the data is its items
    EVERY_PAGE = "every page"  # the first page, then all the others at once: every item


@dataclass(frozen=True)
class Section:
    """One section of the dashboard.

    ``name`` names it everywhere: its cache key, its template
    (``spotify_stats/sections/<name>.html``) and, hyphenated, its card's id on the
    page. ``fetch`` is the client function called with the access token (plus
    ``time_range`` when ``ranged``, ``limit``/``offset`` when it pages).
    ``variable`` is what its template calls the data (None when it failed).
    ``title`` is the heading of its card; None for the profile, which is no card.
    A failed section renders ``failed_template`` with a ``message``. A section
    with ``ages`` says how long ago things happened: its template writes
    ``<!--ago:{{ moment|date:'U' }}-->``, filled in ("12 minutes ago") each time
    the page is served, cached or not.
    """

    name: str
    fetch: Callable[..., Any]
    variable: str
    title: str | None = None
    ranged: bool = False
    paging: Paging = Paging.ONE
    ages: bool = False
    failed_template: str = "spotify_stats/sections/failed.html"

    @property
    def template(self):
        return f"spotify_stats/sections/{self.name}.html"

    @property
    def element_id(self):
        return self.name.replace("_", "-")


SECTIONS = (
    Section(
        "profile",
        spotify_client.get_profile,
        variable="profile",
        # The listener's name stays on the page when Spotify fails.
        failed_template="spotify_stats/sections/profile.html",
    ),
    Section(
        "top_tracks",
        spotify_client.get_top_tracks,
        variable="items",
        title="Top tracks",
        ranged=True,
        paging=Paging.FIRST_PAGE,
    ),
    Section(
        "top_artists",
        spotify_client.get_top_artists,
        variable="items",
        title="Top artists",
        ranged=True,
        paging=Paging.FIRST_PAGE,
    ),
    Section(
        "recently_played",
        spotify_client.get_recently_played,
        variable="plays",
        title="Recently played",
        paging=Paging.FIRST_PAGE,
        ages=True,
    ),
    Section(
        "playlists",
        spotify_client.get_playlists_page,
        variable="playlists",
        title="Playlists",
        paging=Paging.EVERY_PAGE,
    ),
)


def named(name):
    """The section called ``name``."""
    return next(section for section in SECTIONS if section.name == name)


def cards():
    """The sections shown as cards, in the page's order (the profile heads the page
    on its own)."""
    return [section for section in SECTIONS if section.title]
