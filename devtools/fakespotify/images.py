"""Generated cover art: a coloured square with initials, as SVG.

The fake serves these instead of Spotify's CDN images so that pages work
offline. The colour comes from the image's name, so it is stable.
"""

from __future__ import annotations

import hashlib
from html import escape


def initials(label: str) -> str:
    """Up to two initials of ``label`` ("Velvet Orchard" -> "VO", "坂本龍一" -> "坂本")."""
    words = [w for w in label.replace("<", " ").replace(">", " ").split() if w[0].isalnum()]
    if not words:
        return "♪"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def colour(name: str) -> str:
    """A stable, readable background colour for ``name``."""
    digest = hashlib.sha256(name.encode()).digest()
    hue = int.from_bytes(digest[:2]) % 360
    return f"hsl({hue}, 55%, 42%)"


def render_svg(name: str, label: str, size: int) -> bytes:
    """An SVG of ``size`` pixels showing the initials of ``label``."""
    text = escape(initials(label))
    font_size = size * 0.38
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img">'
        f"<title>{escape(label)}</title>"
        f'<rect width="{size}" height="{size}" fill="{colour(name)}"/>'
        f'<text x="50%" y="50%" dy=".35em" text-anchor="middle" fill="#fff" '
        f'font-family="sans-serif" font-size="{font_size:.0f}">{text}</text>'
        "</svg>"
    ).encode()
