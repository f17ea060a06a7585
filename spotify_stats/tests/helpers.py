"""Reading the dashboard's HTML in tests, and what the fake says a listener has."""

import re

from django.utils.html import escape

from devtools.fakespotify.data import OPEN_URL
from spotify_stats.sections import cards

# The cards of the page, as the registry declares them.
SECTION_IDS = tuple(card.element_id for card in cards())


def html_of(response):
    return response.content.decode()


def section(html, section_id):
    """The HTML of one card of the page, from its id to its closing tag."""
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</section>", start)]


def failed(html, section_id):
    return 'class="section-error"' in section(html, section_id)


def assert_only_broken(response, broken, *, saying=None):
    """The page answered, every section showing its data but ``broken`` (None: all
    of them), which says ``saying`` in its place. Returns the page's HTML."""
    assert response.status_code == 200
    html = html_of(response)
    for section_id in SECTION_IDS:
        assert failed(html, section_id) == (section_id == broken), section_id
    if saying is not None:
        assert saying in section(html, broken)
    return html


def top_tracks(fake, listener, time_range="medium_term"):
    """The tracks Spotify answers with ``limit=50``: its null entries left out."""
    return [t for t in fake.listener(listener).top_tracks[time_range][:50] if t is not None]


def top_artists(fake, listener, time_range="medium_term"):
    return [a for a in fake.listener(listener).top_artists[time_range][:50] if a is not None]


def top_track_names(fake, listener, time_range="medium_term"):
    return [track.name for track in top_tracks(fake, listener, time_range)]


def top_artist_names(fake, listener, time_range="medium_term"):
    return [artist.name for artist in top_artists(fake, listener, time_range)]


def shows(html, text):
    """Whether ``text`` (Spotify's raw string) appears in ``html`` as Django escapes it."""
    return escape(text) in html


def open_links(html, kind):
    """The open.spotify.com ids of one kind (track, artist, album, playlist, user)."""
    return re.findall(rf'href="{re.escape(OPEN_URL)}/{kind}/([^"]+)"', html)
