"""The fake's pages: the consent page at /authorize, the index, error pages, cover art.

Pages carry a strict Content-Security-Policy (the inline style is allowed by
its hash), so browser tests notice if Euterpe's pages are the ones breaking CSP.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable

from devtools.fakespotify import data, images
from devtools.fakespotify.wire import Response

ICON = "fake-spotify"  # the pages' icon, served like cover art
ICON_LABEL = "Fake Spotify"
SHOWN_GENERATED = 12  # generated listeners listed on the consent page

_STYLE = """
body { font-family: system-ui, sans-serif; background: #121212; color: #eee; margin: 0; }
main { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; } .note { color: #aaa; }
ul { list-style: none; padding: 0; display: grid; gap: .5rem; }
button { font: inherit; cursor: pointer; border-radius: 2rem; border: 0; padding: .5rem 1rem; }
.listener { display: flex; align-items: center; gap: .75rem; width: 100%; text-align: left;
  background: #282828; color: #fff; border-radius: .5rem; }
.listener:hover, .listener:focus { background: #1db954; color: #000; }
.listener img, .avatar { width: 40px; height: 40px; border-radius: 50%; }
.avatar { display: inline-grid; place-items: center; background: #555; }
.cancel { background: transparent; color: #eee; border: 1px solid #777; }
input { font: inherit; padding: .4rem; border-radius: .3rem; border: 1px solid #777; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# No form-action: browsers apply it to the redirect that follows the POST,
# which would block the way back to the app's redirect URI.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; img-src 'self'; style-src 'sha256-{_STYLE_HASH}'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_DEMO_NOTES = {
    "legacy": "extended-quota shape: email, genres, popularity",
    "nameless": "no display name, no picture, no playlists, nothing played",
    "unicode": "Björk, 坂本龍一, emoji",
    "html": "names made of HTML",
    "collector": "120 playlists",
    "stranger": "not on the allow-list: the Web API answers 403",
}
_IMAGE_HEADERS = {
    "Content-Type": "image/svg+xml",
    "Cache-Control": "public, max-age=86400, immutable",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An icon of its own, or browsers ask for /favicon.ico and log its 404.
        f'<link rel="icon" href="/images/{ICON}-32.svg" type="image/svg+xml">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def error(status: int, message: str, **headers: str) -> Response:
    """An HTML error page (the accounts service's way of saying no)."""
    text = page("Fake Spotify — error", f"<h1>Error</h1><p>{html.escape(message)}</p>")
    return Response.html(status, text, **headers)


def index(auth_base_url: str, api_base_url: str) -> Response:
    body = (
        "<h1>Fake Spotify</h1><p>Euterpe's stand-in for Spotify. "
        f"Accounts service at <code>{html.escape(auth_base_url)}</code>, "
        f"Web API at <code>{html.escape(api_base_url)}</code>.</p>"
    )
    return Response.html(200, page("Fake Spotify", body), **PAGE_HEADERS)


def consent(
    params: dict[str, str],
    listeners: list[data.Listener],
    hidden_count: int,
    allowed: set[str],
) -> Response:
    """The page /authorize shows: a button per demo listener, Cancel, and a free id field."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params.get(name) or "")}">'
        for name in ("client_id", "response_type", "redirect_uri", "state", "scope")
    )
    rows = []
    for listener in listeners:
        url = _avatar_url(listener)
        picture = (
            f'<img src="{html.escape(url)}" alt="" width="40" height="40">'
            if url
            else '<span class="avatar" aria-hidden="true">?</span>'
        )
        note = _DEMO_NOTES.get(listener.id, "")
        if listener.id not in allowed and listener.id != "stranger":
            note = "not on the allow-list"
        name = html.escape(listener.display_name or listener.id)
        rows.append(
            f'<li><button class="listener" type="submit" name="listener" '
            f'value="{html.escape(listener.id)}">{picture}<span><strong>{name}</strong>'
            f' <span class="note">({html.escape(listener.id)}) {html.escape(note)}</span>'
            "</span></button></li>"
        )
    more = ""
    if hidden_count:
        more = f'<p class="note">…and {hidden_count} more generated listeners.</p>'
    scope = html.escape(params.get("scope") or "(none)")
    body = (
        "<h1>Fake Spotify — demo data</h1>"
        '<p class="note">This is not Spotify. Pick a demo listener to log in as; '
        f"the app asks for <code>{scope}</code>.</p>"
        f'<form method="post" action="/authorize">{hidden}<ul>{"".join(rows)}</ul>{more}'
        '<p><button class="cancel" type="submit" name="decline" value="1">Cancel</button></p>'
        "</form>"
        f'<form method="post" action="/authorize">{hidden}'
        '<p><label>Listener id <input name="listener" required></label> '
        '<button type="submit">Log in</button></p></form>'
    )
    return Response.html(200, page("Fake Spotify — demo data", body), **PAGE_HEADERS)


def _avatar_url(listener: data.Listener) -> str | None:
    if not listener.has_avatar:
        return None
    return f"/images/user-{data.spotify_id('user', listener.id)}-64.svg"


def image(path: str, label_of: Callable[[str], str | None]) -> Response:
    """``/images/<kind>-<id>-<size>.svg``: generated cover art showing ``label_of(key)``."""
    name = path.removeprefix("/images/")
    stem, dot, extension = name.rpartition(".")
    key, _, size = stem.rpartition("-")
    label = ICON_LABEL if key == ICON else label_of(key)
    if extension != "svg" or not dot or label is None or not size.isdigit():
        return error(404, "No such image")
    body = images.render_svg(key, label, min(int(size), 2000))
    return Response(200, body, dict(_IMAGE_HEADERS))
