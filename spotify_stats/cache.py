"""Where the dashboard keeps what it fetched from Spotify.

Keys are built from the listener's user id, so entries can never mix listeners,
and they are enumerable, so disconnecting deletes every one of them.
"""

from django.core.cache import cache

TIME_RANGES = ("short_term", "medium_term", "long_term")
SECTIONS = ("profile", "playlists", "recently_played")
RANGED_SECTIONS = ("top_tracks", "top_artists")


def section_key(user_id, section, time_range=None):
    suffix = f":{time_range}" if time_range else ""
    return f"spotify:v1:{user_id}:{section}{suffix}"


def listener_keys(user_id):
    keys = [section_key(user_id, section) for section in SECTIONS]
    keys += [
        section_key(user_id, section, time_range)
        for section in RANGED_SECTIONS
        for time_range in TIME_RANGES
    ]
    return keys


def forget_listener(user_id):
    """Delete every cached Spotify entry of one listener (disconnect, logout of a deleted user)."""
    cache.delete_many(listener_keys(user_id))


def refresh_key(user_id):
    return f"spotify:v1:{user_id}:refresh-claimed"


def claim_refresh(user_id, *, seconds):
    """True when the listener may refresh now (at most once per ``seconds``).

    ``cache.add`` is atomic on every backend Euterpe uses (database, Redis), so two
    workers pressing at once cannot both win.
    """
    return cache.add(refresh_key(user_id), True, timeout=seconds)
