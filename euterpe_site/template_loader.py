"""Templates are written to be read; the pages they make carry none of that layout.

Between two tags (HTML tags, template tags or ``{{ variables }}``), a line break and
the indentation around it are layout: this loader drops them once, when it reads a
template from ``templates/``, with the whitespace that starts and ends the file, so
a section of 120 playlists goes out as compact as hand-minified HTML while its
template stays reviewable. Whitespace beside text is kept, so a sentence broken
over two lines reads as written. Where two tags must be separated by a space on
the page, keep them on one line.
"""

import re

from django.template.loaders import filesystem

_LAYOUT = re.compile(r"(>|%\}|#\}|\}\})[ \t]*\n\s*(?=<|\{%|\{#|\{\{)")


def strip_layout(source: str) -> str:
    return _LAYOUT.sub(r"\1", source).strip()


class Loader(filesystem.Loader):
    def get_contents(self, origin):
        return strip_layout(super().get_contents(origin))
