"""Templates people can review: one CSS vocabulary, layout whitespace stripped in one place,
private pages kept out of search engines."""

import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.test import Client

from euterpe_site.template_loader import strip_layout

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STYLESHEET = ROOT / "static" / "css" / "euterpe.css"


# Python that writes markup with the stylesheet's classes (server-rendered SVG charts).
MARKUP_MODULES = [ROOT / "listening_history" / "charts.py"]


def template_classes():
    """Classes the templates (and the chart code) use, and the prefixes of those they build
    (``avatar--c{{ n }}``, ``heat--{}``)."""
    static, built = set(), set()
    for path in [*TEMPLATES.rglob("*.html"), *MARKUP_MODULES]:
        for value in re.findall(r'class="([^"]*)"', path.read_text()):
            value = re.sub(r"\{\{.*?\}\}|\{[^{}%]*\}", "§", re.sub(r"\{%.*?%\}", " ", value))
            for word in value.split():
                if "§" in word:
                    built.add(word.split("§")[0])
                else:
                    static.add(word)
    return static, built


def stylesheet_classes():
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    return set(re.findall(r"\.([a-zA-Z][\w-]*)", css))


def test_every_class_in_a_template_has_a_rule():
    static, _ = template_classes()
    assert static - stylesheet_classes() == set()


def test_every_rule_styles_a_class_a_template_uses():
    static, built = template_classes()
    unused = {
        name
        for name in stylesheet_classes() - static
        if not any(name.startswith(prefix) for prefix in built if prefix)
    }
    assert unused == set()


def test_no_template_is_hand_minified():
    for path in TEMPLATES.rglob("*.html"):
        longest = max(len(line) for line in path.read_text().splitlines())
        # A paragraph of prose runs long; a whole list written on one line runs far longer.
        assert longest < 400, f"{path.relative_to(ROOT)} has a line of {longest} characters"


def test_layout_between_tags_is_dropped_and_text_keeps_its_spaces():
    source = "<ul>\n  <li>{{ a }}</li>\n  {% if b %}\n    <li>b</li>\n  {% endif %}\n</ul>\n"
    assert strip_layout(source) == "<ul><li>{{ a }}</li>{% if b %}<li>b</li>{% endif %}</ul>"
    assert strip_layout("<p>Two lines\n  of text</p>") == "<p>Two lines\n  of text</p>"
    assert strip_layout("<b>x</b> · <i>y</i>") == "<b>x</b> · <i>y</i>"


def test_euterpes_templates_are_read_through_the_stripping_loader():
    html = render_to_string("logout_button.html")
    assert "\n" not in html
    assert html.startswith('<form class="inline-form" method="post" action="/logout">')


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login", "/privacy"])
def test_public_pages_describe_themselves_and_may_be_indexed(path):
    html = Client(headers={"X-Forwarded-Proto": "https"}).get(path).content.decode()

    assert re.search(r'<meta name="description" content="[^"]{50,160}">', html)
    assert "noindex" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/no-such-page"])
def test_other_pages_ask_not_to_be_indexed(path):
    html = Client(headers={"X-Forwarded-Proto": "https"}).get(path).content.decode()

    assert '<meta name="robots" content="noindex">' in html
    assert 'name="description"' not in html
