"""Small formatting filters for the dashboard's templates."""

import zlib

from django import template

register = template.Library()

AVATAR_COLOURS = 8


@register.filter
def duration(milliseconds):
    """A track length as m:ss (h:mm:ss past an hour); empty when unknown."""
    if milliseconds is None:
        return ""
    seconds = max(0, int(milliseconds) // 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


@register.filter
def initials(name):
    """Up to two initials of a name, for the avatar fallback ('Alice Liddell' -> 'AL')."""
    words = [word for word in str(name or "").split() if word[:1].isalnum()]
    if not words:
        letters = [char for char in str(name or "") if char.isalnum()]
        return letters[0].upper() if letters else "?"
    return "".join(word[0] for word in words[:2]).upper()


@register.filter
def avatar_colour(value):
    """A stable colour index (0-7) for a listener, the same in every process."""
    return zlib.crc32(str(value).encode()) % AVATAR_COLOURS
