"""The yearly recap (/history/recap/<year>) and its opt-in share links.

The recap's numbers against a direct Python computation over the stored entries (the history
of test_discoveries: four years, DST changes, spellings); the share links' promises: an
unguessable token, only the recap and the chosen name, revocable, gone with "Delete my
history" and with a disconnect, rate-limited, CSRF on every POST, anonymous access only
through a token.
"""

import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.services import disconnect_listener
from listening_history import discoveries, insights, links, precompute, services
from listening_history.insight_models import RecapShare
from listening_history.recap_views import recap_context
from listening_history.tests.helpers import extended, json_upload, listener, run_import
from listening_history.tests.test_discoveries import (
    TRACK,
    expected_days,
    expected_new_artists,
    expected_year_tops,
    generated_history,
    most_frequent,
    norm,
    stored_rows,
)

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2024, 12, 1)


def browser(user=None, **kwargs):
    client = Client(headers={"X-Forwarded-Proto": "https"}, **kwargs)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def history():
    alice = listener("alice")
    alice.email = "alice@example.com"
    alice.username = "spotify-id-31l4x"
    alice.save()
    done = run_import(
        alice, json_upload("Streaming_History_Audio_2021-2024.json", generated_history())
    )
    assert done.state == "done", done.errors
    return alice, stored_rows(alice)


def expected_recap(rows, tz_name, year):
    tz = ZoneInfo(tz_name)
    rows = [row for row in rows if row[0].astimezone(tz).year == year]
    per_day = defaultdict(lambda: [0, 0])
    artists = defaultdict(lambda: {"ms": 0, "plays": 0, "spell": Counter()})
    for ts, ms, kind, _track, artist, _uri in rows:
        day = per_day[ts.astimezone(tz).date()]
        day[0] += ms
        day[1] += ms >= 30_000
        if kind == TRACK and artist and norm(artist):
            group = artists[norm(artist)]
            group["ms"] += ms
            group["plays"] += ms >= 30_000
            group["spell"][artist] += 1
    per_month = defaultdict(int)
    for day, (ms, _plays) in per_day.items():
        per_month[day.month] += ms
    top_month = min(per_month.items(), key=lambda kv: (-kv[1], kv[0]))
    busiest = min(per_day.items(), key=lambda kv: (-kv[1][0], kv[0]))
    play_days = sorted(day for day, (_ms, plays) in per_day.items() if plays)
    longest, run = None, []
    for day in play_days:
        run = [*run, day] if run and day - run[-1] == timedelta(days=1) else [day]
        if longest is None or len(run) > len(longest):
            longest = run
    ranked_artists = sorted(
        ((g["ms"], g["plays"], most_frequent(g["spell"])) for g in artists.values()),
        key=lambda r: (-r[0], -r[1], r[2]),
    )
    tops, _last = expected_year_tops(rows, tz)
    return {
        "minutes": sum(row[1] for row in rows) // 60_000,
        "top_month": f"{year}-{top_month[0]:02d}",
        "busiest_day": busiest[0].isoformat(),
        "streak": {
            "start": longest[0].isoformat(),
            "end": longest[-1].isoformat(),
            "days": len(longest),
        },
        "top_tracks": [(s[0], s[1], ms) for _k, ms, _p, s, _u in tops[year][:5]],
        "top_artists": [(name, ms) for ms, _plays, name in ranked_artists[:5]],
    }


@pytest.mark.parametrize("tz_name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_every_recap_number_equals_a_direct_computation(history, tz_name):
    alice, rows = history
    new = {year["year"]: year for year in expected_new_artists(rows, ZoneInfo(tz_name))}
    for year in (2021, 2022, 2023, 2024):
        context = recap_context(alice.pk, zone_name=tz_name, year=year, today=TODAY)
        want = expected_recap(rows, tz_name, year)
        assert context["minutes_label"] == f"{want['minutes']:,}"
        assert context["top_month"]["month"] == want["top_month"]
        assert context["busiest_day"]["day"] == want["busiest_day"]
        assert {k: context["streak"][k] for k in ("start", "end", "days")} == want["streak"]
        tracks = context["top"][0]["items"]
        assert [(t["name"], t["artist"], t["ms_played"]) for t in tracks] == want["top_tracks"]
        artists = context["top"][1]["items"]
        assert [(a["name"], a["ms_played"]) for a in artists] == want["top_artists"]
        discovered = context["discovered"]
        if discovered is not None:
            for artist in discovered["artists"]:
                assert artist.pop("url") == links.artist_url(alice.pk, artist["name"])
        assert discovered == new.get(year)
        # The clock and the lists are the year's summary: /history's numbers for that year.
        summary = insights.summary(alice.pk, tz_name=tz_name, period=discoveries.year_period(year))
        assert context["data"]["clock"] == summary["clock"]
        for key in ("albums", "shows"):
            listed = [
                (i["name"], i["ms_played"]) for i in context["top"][2 + (key == "shows")]["items"]
            ]
            assert listed == [(i["name"], i["ms_played"]) for i in summary[f"top_{key}"][:5]]


def test_a_streak_across_new_year_counts_only_its_days_in_the_year():
    alice = listener("alice")
    days = [date(2023, 12, 30), date(2023, 12, 31), date(2024, 1, 1), date(2024, 1, 5)]
    entries = [
        extended(f"{day.isoformat()}T12:00:00Z", 60_000, track=f"T{n}")
        for n, day in enumerate(days)
    ]
    run_import(alice, json_upload("Streaming_History_Audio_x.json", entries))
    recap_2023 = recap_context(alice.pk, zone_name="UTC", year=2023, today=TODAY)
    recap_2024 = recap_context(alice.pk, zone_name="UTC", year=2024, today=TODAY)
    assert recap_2023["streak"]["days"] == 2 and recap_2023["streak"]["end"] == "2023-12-31"
    assert recap_2024["streak"]["start"] == "2024-01-01" and recap_2024["streak"]["days"] == 1
    # Over the whole history the run is three days long.
    everything = discoveries.compute(alice.pk, tz_name="UTC", today=TODAY)
    assert everything["longest_streak"] == {"start": "2023-12-30", "end": "2024-01-01", "days": 3}


def test_an_entry_at_local_midnight_belongs_to_the_new_year():
    alice = listener("alice")
    # 23:00 UTC on 31 December is midnight in Berlin: 2024 there, 2023 in UTC.
    run_import(
        alice,
        json_upload("Streaming_History_Audio_x.json", [extended("2023-12-31T23:00:00Z", 60_000)]),
    )
    assert recap_context(alice.pk, zone_name="UTC", year=2023, today=TODAY) is not None
    assert recap_context(alice.pk, zone_name="UTC", year=2024, today=TODAY) is None
    berlin = recap_context(alice.pk, zone_name="Europe/Berlin", year=2024, today=TODAY)
    assert berlin["busiest_day"]["day"] == "2024-01-01"
    assert recap_context(alice.pk, zone_name="Europe/Berlin", year=2023, today=TODAY) is None


# -- the pages ------------------------------------------------------------------------------


def test_the_recap_page_shows_the_year(history):
    alice, rows = history
    html = browser(alice).get("/history/recap/2023").content.decode()
    want = expected_recap(rows, "UTC", 2023)
    assert '<h1 class="recap__year" id="recap-title">2023</h1>' in html
    assert f"<strong>{want['minutes']:,}</strong> minutes" in html
    assert 'id="recap-clock"' in html and 'role="img"' in html
    assert html.count('<li class="item item--history">') == 5 * 4 - 5  # no shows in this history
    assert "No shows this year." in html
    assert f"{want['streak']['days']} days" in html
    assert 'id="share"' in html and "csrfmiddlewaretoken" in html
    # Names link to the listener's artist and track pages.
    context = recap_context(alice.pk, zone_name="UTC", year=2023, today=TODAY)
    first_track = context["top"][0]["items"][0]
    track_url = links.track_url(alice.pk, first_track["name"], first_track["artist"])
    assert f'<a class="item__title" href="{track_url}">' in html
    assert context["discovered"] is None and "No artist played for the first time" in html
    first_year = recap_context(alice.pk, zone_name="UTC", year=2021, today=TODAY)
    html = browser(alice).get("/history/recap/2021").content.decode()
    for artist in first_year["discovered"]["artists"][:10]:
        assert f'<a href="{links.artist_url(alice.pk, artist["name"])}">' in html


def test_a_year_without_plays_is_a_friendly_404_that_lists_the_years_with_plays(history):
    alice, rows = history
    client = browser(alice)
    years = sorted({day.year for day in expected_days(rows, ZoneInfo("UTC"))}, reverse=True)
    for year in (2019, 2030, 99999):
        response = client.get(f"/history/recap/{year}")
        assert response.status_code == 404
        html = response.content.decode()
        assert "Nothing played in" in html
        assert re.findall(r'<a href="/history/recap/(\d+)">', html) == [str(y) for y in years]


def test_a_year_with_only_short_streams_has_no_recap():
    alice = listener("alice")
    run_import(
        alice,
        json_upload("Streaming_History_Audio_x.json", [extended("2022-05-01T10:00:00Z", 29_999)]),
    )
    response = browser(alice).get("/history/recap/2022")
    assert response.status_code == 404
    assert "no recap for it" in response.content.decode()


def test_the_year_list_links_every_year_with_plays_and_history_links_to_it(history):
    alice, rows = history
    client = browser(alice)
    years = sorted({day.year for day in expected_days(rows, ZoneInfo("UTC"))}, reverse=True)
    html = client.get("/history/recap").content.decode()
    assert re.findall(r'<a href="/history/recap/(\d+)">', html) == [str(y) for y in years]
    assert 'href="/history/recap"' in client.get("/history").content.decode()


def test_an_empty_history_has_an_empty_year_list():
    html = browser(listener("alice")).get("/history/recap").content.decode()
    assert "No plays yet" in html and "/history/recap/" not in html


def test_recaps_need_a_login(history):
    client = browser()
    for path in ("/history/recap", "/history/recap/2023"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login")
    for path in ("/history/recap/2023/share", "/history/recap/2023/unshare"):
        response = client.post(path, {"display_name": "x"})
        assert response.status_code == 302 and response["Location"].startswith("/login")
    assert not RecapShare.objects.exists()


# -- sharing ------------------------------------------------------------------------------


def _share(client, year=2023, name="Al from Malmö"):
    response = client.post(f"/history/recap/{year}/share", {"display_name": name})
    assert response.status_code == 302
    assert response["Location"] == f"/history/recap/{year}#share"
    return RecapShare.objects.get(year=year)


def _shared_path(share):
    return f"/shared/recap/{share.token}"


def test_a_share_link_shows_the_recap_and_the_chosen_name_only(history):
    alice, _rows = history
    owner = browser(alice)
    share = _share(owner, name="  Al   <b>from</b> Malmö ")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", share.token)  # 32 random bytes
    assert share.display_name == "Al <b>from</b> Malmö"
    owner_page = owner.get("/history/recap/2023").content.decode()
    assert re.search(
        rf'<a href="https?://testserver(:\d+)?/shared/recap/{share.token}">', owner_page
    )

    response = browser().get(_shared_path(share))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Al &lt;b&gt;from&lt;/b&gt; Malmö\N{RIGHT SINGLE QUOTATION MARK}s year in music" in html
    assert '<h1 class="recap__year" id="recap-title">2023</h1>' in html
    assert '<meta name="robots" content="noindex">' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]
    for private in ("spotify-id-31l4x", "alice@example.com", "Alice", "alice", "UTC"):
        assert private not in html, private
    # Nothing that needs a login, and no way to manage the link.
    assert "/history" not in html and "csrfmiddlewaretoken" not in html
    assert 'id="share"' not in html


def test_the_shared_recap_has_the_owners_numbers_not_the_visitors(history):
    alice, _rows = history
    share = _share(browser(alice))
    bob = listener("bob")
    run_import(
        bob,
        json_upload("Streaming_History_Audio_x.json", [extended("2023-02-01T10:00:00Z", 60_000)]),
    )
    html = browser(bob).get(_shared_path(share)).content.decode()
    want = recap_context(alice.pk, zone_name="UTC", year=2023, today=TODAY)
    assert f"<strong>{want['minutes_label']}</strong> minutes" in html


def test_sharing_needs_a_name_and_a_year_with_plays(history):
    alice, _rows = history
    client = browser(alice)
    assert client.post("/history/recap/2023/share", {"display_name": "  "}).status_code == 400
    assert client.post("/history/recap/2019/share", {"display_name": "Al"}).status_code == 404
    assert not RecapShare.objects.exists()


def test_sharing_twice_keeps_the_first_link(history):
    alice, _rows = history
    client = browser(alice)
    first = _share(client)
    again = _share(client, name="Someone else")
    assert again.token == first.token and again.display_name == first.display_name


def test_a_revoked_link_is_a_404_at_once_and_a_new_one_has_a_new_token(history):
    alice, _rows = history
    client = browser(alice)
    share = _share(client)
    anonymous = browser()
    assert anonymous.get(_shared_path(share)).status_code == 200
    response = client.post("/history/recap/2023/unshare")
    assert response.status_code == 302
    assert anonymous.get(_shared_path(share)).status_code == 404
    assert not RecapShare.objects.exists()
    renewed = _share(client)
    assert renewed.token != share.token
    assert anonymous.get(_shared_path(share)).status_code == 404
    assert anonymous.get(_shared_path(renewed)).status_code == 200


def test_a_year_out_of_any_range_is_a_404_everywhere(history):
    alice, _rows = history
    client = browser(alice)
    for year in (0, 1899, 3000, 10**30):
        assert client.get(f"/history/recap/{year}").status_code == 404
        assert (
            client.post(f"/history/recap/{year}/share", {"display_name": "Al"}).status_code == 404
        )
        assert client.post(f"/history/recap/{year}/unshare").status_code == 302


def test_a_listener_cannot_revoke_another_listeners_link(history):
    alice, _rows = history
    share = _share(browser(alice))
    bob = listener("bob")
    browser(bob).post("/history/recap/2023/unshare")
    assert browser().get(_shared_path(share)).status_code == 200


def test_deleting_the_history_deletes_the_share_links(history):
    alice, _rows = history
    share = _share(browser(alice))
    services.delete_history(alice)
    assert not RecapShare.objects.exists()
    assert browser().get(_shared_path(share)).status_code == 404


def test_the_delete_my_history_button_makes_the_link_a_404(history):
    alice, _rows = history
    client = browser(alice)
    share = _share(client)
    response = client.post("/history/delete", {"confirm": "yes"})
    assert response.status_code in (302, 303)
    assert browser().get(_shared_path(share)).status_code == 404


def test_a_disconnect_deletes_the_share_links_in_postgresql(history):
    alice, _rows = history
    share = _share(browser(alice))
    disconnect_listener(alice)
    assert not RecapShare.objects.filter(token=share.token).exists()
    assert browser().get(_shared_path(share)).status_code == 404


def test_unknown_and_malformed_tokens_are_404s(history):
    alice, _rows = history
    share = _share(browser(alice))
    client = browser()
    for token in ("x" * 43, share.token[:-1], share.token.upper(), "%00", "a" * 500):
        assert client.get(f"/shared/recap/{token}").status_code == 404


def test_every_post_needs_the_csrf_token(history):
    alice, _rows = history
    client = browser(alice, enforce_csrf_checks=True)
    assert client.post("/history/recap/2023/share", {"display_name": "Al"}).status_code == 403
    assert not RecapShare.objects.exists()
    share = _share(browser(alice))
    assert client.post("/history/recap/2023/unshare").status_code == 403
    assert RecapShare.objects.filter(pk=share.pk).exists()


def test_shared_recaps_are_rate_limited_per_client(history, settings):
    alice, _rows = history
    share = _share(browser(alice))
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_RATES = {**settings.RATELIMIT_RATES, "shared_recap": "3/d"}
    cache.clear()
    try:
        client = browser()
        for _ in range(3):
            assert client.get(_shared_path(share), REMOTE_ADDR="192.0.2.7").status_code == 200
        # Unknown tokens count too: guessing is as slow as reading.
        response = client.get("/shared/recap/" + "y" * 43, REMOTE_ADDR="192.0.2.7")
        assert response.status_code == 429 and int(response["Retry-After"]) > 0
        assert client.get(_shared_path(share), REMOTE_ADDR="192.0.2.8").status_code == 200
        # The listener's own pages are not limited by it.
        assert browser(alice).get("/history/recap/2023", REMOTE_ADDR="192.0.2.7").status_code == 200
    finally:
        cache.clear()


def test_the_privacy_page_explains_sharing(client):
    html = browser().get("/privacy").content.decode()
    assert "share link" in html and "revoke" in html


def test_the_shared_page_follows_the_owners_zone(history):
    alice, _rows = history
    share = _share(browser(alice))
    precompute.set_zone(alice.pk, "America/Argentina/Buenos_Aires")
    html = browser().get(_shared_path(share)).content.decode()
    want = recap_context(
        alice.pk, zone_name="America/Argentina/Buenos_Aires", year=2023, today=TODAY
    )
    assert f"<strong>{want['minutes_label']}</strong> minutes" in html
    assert "Buenos_Aires" not in html


def test_recap_days_of_the_busiest_day_label_are_local(history):
    alice, _rows = history
    context = recap_context(alice.pk, zone_name="UTC", year=2024, today=TODAY)
    day = date.fromisoformat(context["busiest_day"]["day"])
    assert context["busiest_day"]["label"] == f"{day:%A}, {day.day} {day:%B}"
