"""The registry of sections (spotify_stats/sections.py) drives the whole page."""

import re

import pytest
from django.core.cache import cache
from django.template import loader

import spotify_client
from spotify_stats import sections
from spotify_stats.cache import listener_keys
from spotify_stats.sections import Paging, Section
from spotify_stats.tests.helpers import html_of, section

# Added as the README's "Adding a stats section" says: one entry, one template.
ADDED = Section(
    "spotify_id", spotify_client.get_profile, variable="profile", title="Your Spotify id"
)
ADDED_TEMPLATE = '<p class="spotify-id">{{ profile.id }}</p>'


@pytest.fixture
def added_section(monkeypatch, settings, tmp_path):
    template = tmp_path / ADDED.template
    template.parent.mkdir(parents=True)
    template.write_text(ADDED_TEMPLATE)
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}, *settings.TEMPLATES[1:]]
    monkeypatch.setattr(sections, "SECTIONS", (*sections.SECTIONS, ADDED))
    return ADDED


@pytest.mark.parametrize("entry", sections.SECTIONS, ids=lambda entry: entry.name)
def test_every_section_has_its_template_and_a_template_for_its_failure(entry):
    loader.get_template(entry.template)
    loader.get_template(entry.failed_template)


def test_section_names_are_unique():
    names = [entry.name for entry in sections.SECTIONS]
    assert len(set(names)) == len(names)


def test_the_page_shows_one_card_per_registered_card_in_the_registrys_order(browser_for):
    html = html_of(browser_for("alice").get("/"))

    ids = re.findall(r'<section class="card" id="([^"]+)"', html)
    assert ids == [card.element_id for card in sections.cards()]
    for card in sections.cards():
        heading = re.search(rf'id="{card.element_id}-title">(.*?)</h2>', html).group(1)
        assert heading.startswith(card.title)
        assert ("· last 6 months" in heading) == card.ranged, card.name


def test_a_listener_has_a_cache_key_per_section_and_per_time_range_of_a_ranged_one():
    ranged = sum(entry.ranged for entry in sections.SECTIONS)
    expected = len(sections.SECTIONS) + ranged * (len(spotify_client.TIME_RANGES) - 1)

    assert len(set(listener_keys(7))) == expected


def test_only_playlists_are_fetched_page_after_page():
    every_page = [entry.name for entry in sections.SECTIONS if entry.paging is Paging.EVERY_PAGE]

    assert every_page == ["playlists"]


def test_a_section_added_with_one_entry_and_one_template_is_fetched_cached_and_shown(
    added_section, alice_browser, fake_spotify, django_user_model
):
    html = html_of(alice_browser.get("/"))

    card = section(html, "spotify-id")
    assert '<p class="spotify-id">alice</p>' in card
    assert "Your Spotify id" in card
    user_id = django_user_model.objects.get(username="alice").pk
    assert len(cache.get_many(listener_keys(user_id))) == 6

    calls = fake_spotify.calls()
    assert '<p class="spotify-id">alice</p>' in html_of(alice_browser.get("/"))
    assert fake_spotify.calls() == calls  # warm: from the cache


def test_a_section_added_that_fails_shows_its_message_in_its_card(
    added_section, alice_browser, fake_spotify
):
    fake_spotify.fail_next("/v1/me", 4, 503)

    card = section(html_of(alice_browser.get("/")), "spotify-id")

    assert "Spotify is not answering right now" in card
