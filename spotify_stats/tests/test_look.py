"""What the strict CSP and a steady layout need: no inline style or script, sized lazy images,
and error pages in the same look."""

import re

import pytest
from django.template import loader
from django.test import Client

from spotify_stats.tests.helpers import html_of, section


def test_the_dashboard_has_no_inline_style_or_script(browser_for):
    html = html_of(browser_for("carol").get("/"))

    assert "style=" not in html
    assert "<style" not in html
    assert "<script" not in html
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)">', html) == [
        "/static/css/euterpe.css"
    ]


def test_every_spotify_image_is_lazy_and_sized(browser_for):
    html = html_of(browser_for("alice").get("/"))

    images = re.findall(r"<img [^>]+>", html)
    spotify_images = [tag for tag in images if "/static/" not in tag]
    assert len(spotify_images) > 50
    for tag in spotify_images:
        assert re.search(r'width="\d+" height="\d+"', tag), tag
    list_images = [tag for tag in spotify_images if "item__art" in tag]
    assert list_images and all('loading="lazy"' in tag for tag in list_images)


@pytest.mark.django_db
def test_a_missing_page_gets_the_sites_404_page():
    response = Client(headers={"X-Forwarded-Proto": "https"}).get("/no-such-page")

    assert response.status_code == 404
    html = html_of(response)
    assert "no page here" in html
    assert 'href="/static/css/euterpe.css"' in html


@pytest.mark.parametrize("name", ["400.html", "403.html", "404.html"])
def test_error_pages_share_the_sites_look(rf, name):
    html = loader.get_template(name).render({}, rf.get("/"))

    assert 'class="site-header"' in html
    assert 'class="panel"' in html
    assert "/static/css/euterpe.css" in html


def test_the_500_page_renders_without_a_request_or_context():
    html = loader.get_template("500.html").render()

    assert "Something went wrong on our side" in html
    assert 'href="/static/css/euterpe.css"' in html


def test_each_list_shows_ten_items_and_keeps_the_rest_behind_details(browser_for):
    html = html_of(browser_for("collector").get("/"))

    playlists = section(html, "playlists")
    assert '<p class="list-count">120 playlists</p>' in playlists
    shown, rest = playlists.split("<details", 1)
    assert shown.count("<li") == 10
    assert rest.count("<li") == 110
    assert "Show all 120 playlists" in rest
    tracks = section(html, "top-tracks")
    assert tracks.split("<details", 1)[0].count("<li") == 10
    assert '<ol class="items" start="11">' in tracks


def test_a_short_list_has_nothing_to_expand(browser_for):
    playlists = section(html_of(browser_for("alice").get("/")), "playlists")

    assert '<p class="list-count">7 playlists</p>' in playlists
    assert "<details" not in playlists


def test_the_dashboard_asks_not_to_be_indexed(browser_for):
    html = html_of(browser_for("carol").get("/"))

    assert '<meta name="robots" content="noindex">' in html
