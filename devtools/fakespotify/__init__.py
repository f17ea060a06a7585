"""Euterpe's fake Spotify: a local stand-in for the accounts service and Web API.

:mod:`devtools.fakespotify.server` says what it serves and which module answers
what; :mod:`devtools.fakespotify.control` lists the control endpoints;
:mod:`devtools.fakespotify.data` describes the demo listeners.
"""

from devtools.fakespotify.accounts import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SCOPE
from devtools.fakespotify.server import FakeSpotify

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_SCOPE", "FakeSpotify"]
