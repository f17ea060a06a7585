"""Euterpe's fake Spotify: a local stand-in for the accounts service and Web API.

See :mod:`devtools.fakespotify.server` for what it serves and how to control it,
and :mod:`devtools.fakespotify.data` for the demo listeners.
"""

from devtools.fakespotify.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPE,
    FakeSpotify,
)

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_SCOPE", "FakeSpotify"]
