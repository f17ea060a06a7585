"""Discoveries, yearly recaps and their opt-in share links (issue 18).

The recap of a year is the year's summary (``precompute.get_summary``, the same numbers as
/history for that year) with the recap's own highlights (``discoveries.year_highlights``) and
the artists first played that year (``discoveries.get``). A listener's own recap and a shared
one are rendered from the same context; the shared page shows no account detail, only the
display name its owner chose, and links to nothing that needs a login.
"""

import secrets
from datetime import date

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST, require_safe

from listening_history import charts, discoveries, insights, links, precompute
from listening_history.insight_models import RecapShare

RECAP_TOP = 5
DISPLAY_NAME_MAX = 60
MIN_YEAR, MAX_YEAR = 1900, 2999


def _zone_and_today(user_id):
    zone_name = precompute.zone_of(user_id) or precompute.DEFAULT_ZONE
    return zone_name, insights.today_in(insights.zone(zone_name))


@require_safe
@login_required
def discoveries_page(request):
    user_id = request.user.pk
    zone_name, today = _zone_and_today(user_id)
    data = discoveries.get(user_id, zone_name=zone_name, today=today)
    forgotten = [
        {
            **item,
            "url": links.track_url(user_id, item["name"], item["artist"]),
            "artist_url": links.artist_url(user_id, item["artist"]),
            "duration": charts.duration(item["ms_played"]),
            "last": _day(item["last_play"], zone_name),
        }
        for item in data["forgotten"]
    ]
    new_artists = [
        {
            **year,
            "artists": [
                {
                    **artist,
                    "day": _day(artist["first_play"], zone_name),
                    "url": links.artist_url(user_id, artist["name"]),
                }
                for artist in year["artists"]
            ],
        }
        for year in reversed(data["new_artists"])
    ]
    context = {
        "data": data,
        "zone_name": zone_name,
        "forgotten": forgotten,
        "new_artists": new_artists,
        "quiet_days": discoveries.QUIET_DAYS,
        "favourites_top": discoveries.FAVOURITES_TOP,
    }
    return render(request, "listening_history/discoveries.html", context)


@require_safe
@login_required
def recaps(request):
    zone_name, today = _zone_and_today(request.user.pk)
    data = discoveries.get(request.user.pk, zone_name=zone_name, today=today)
    shares = set(RecapShare.objects.filter(user=request.user).values_list("year", flat=True))
    return render(
        request,
        "listening_history/recaps.html",
        {"years": list(reversed(data["years"])), "shared": shares, "zone_name": zone_name},
    )


@require_safe
@login_required
def recap(request, year):
    zone_name, today = _zone_and_today(request.user.pk)
    context = recap_context(request.user.pk, zone_name=zone_name, year=year, today=today)
    if context is None:
        years = discoveries.get(request.user.pk, zone_name=zone_name, today=today)["years"]
        return render(
            request,
            "listening_history/recap_missing.html",
            {"year": year, "years": list(reversed(years))},
            status=404,
        )
    share = RecapShare.objects.filter(user=request.user, year=year).first()
    context.update(
        {
            "public": False,
            "share": share,
            "share_url": (
                request.build_absolute_uri(reverse("history:shared-recap", args=[share.token]))
                if share
                else None
            ),
            "name_max": DISPLAY_NAME_MAX,
        }
    )
    return render(request, "listening_history/recap.html", context)


def recap_context(user_id, *, zone_name, year, today, public=False):
    """Everything the recap page shows, or None when the year has no play.

    Names link to the listener's artist and track pages, except on a ``public`` (shared)
    recap: those pages need the listener's login.
    """
    link_for = None if public else user_id
    data = _year_summary(user_id, zone_name=zone_name, year=year, today=today)
    if data is None:
        return None
    highlights = discoveries.year_highlights(user_id, tz_name=zone_name, year=year)
    found = discoveries.get(user_id, zone_name=zone_name, today=today)
    discovered = next((y for y in found["new_artists"] if y["year"] == year), None)
    if discovered is not None:
        discovered = {
            **discovered,
            "artists": [
                {**artist, "url": link_for and links.artist_url(link_for, artist["name"])}
                for artist in discovered["artists"]
            ],
        }
    top_month = highlights["top_month"]
    busiest = highlights["busiest_day"]
    return {
        "year": year,
        "data": data,
        "minutes_label": f"{data['ms_played'] // 60_000:,}",
        "plays_label": f"{data['plays']:,}",
        "total_duration": charts.duration(data["ms_played"]),
        "top": [
            {
                "id": key,
                "title": title,
                "noun": noun,
                "items": links.linked_items(data[f"top_{key}"][:RECAP_TOP], key, link_for),
            }
            for key, title, noun in (
                ("tracks", "Top tracks", "track"),
                ("artists", "Top artists", "artist"),
                ("albums", "Top albums", "album"),
                ("shows", "Top shows", "show"),
            )
        ],
        "top_month": top_month
        and {
            **top_month,
            "label": date.fromisoformat(top_month["month"] + "-01").strftime("%B"),
            "duration": charts.duration(top_month["ms_played"]),
        },
        "busiest_day": busiest
        and {
            **busiest,
            "label": _day_label(busiest["day"]),
            "duration": charts.duration(busiest["ms_played"]),
        },
        "streak": highlights["longest_streak"]
        and {
            **highlights["longest_streak"],
            "start_label": _short_day(highlights["longest_streak"]["start"]),
            "end_label": _short_day(highlights["longest_streak"]["end"]),
        },
        "discovered": discovered,
        "clock_svg": charts.clock_svg(data["clock"], chart_id="recap-clock"),
        "clock_rows": [
            {"day": day, "hours": [charts.duration(ms) for ms in row]}
            for day, row in zip(charts.WEEKDAYS, data["clock"], strict=True)
        ],
    }


def _year_summary(user_id, *, zone_name, year, today):
    """The year's summary (a preset: stored by the worker), or None when it has no play."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    period = discoveries.year_period(year)
    data = precompute.get_summary(user_id, zone_name=zone_name, period=period, today=today)
    return data if data["plays"] else None


def _day(iso, zone_name):
    """The local date of a summary's UTC ISO time, as YYYY-MM-DD (None stays None)."""
    if iso is None:
        return None
    from datetime import datetime

    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(insights.zone(zone_name)).date().isoformat()


def _short_day(iso_day):
    day = date.fromisoformat(iso_day)
    return f"{day.day} {day:%b}"


def _day_label(iso_day):
    day = date.fromisoformat(iso_day)
    return f"{day:%A}, {day.day} {day:%B}"


# -- sharing ------------------------------------------------------------------------------


@require_POST
@login_required
def share(request, year):
    """Create the share link of the listener's recap of ``year`` (one per year)."""
    name = " ".join(request.POST.get("display_name", "").split())[:DISPLAY_NAME_MAX]
    if not name:
        return render(
            request,
            "400.html",
            {"message": "Choose the name the shared recap shows (it may be a nickname)."},
            status=400,
        )
    zone_name, today = _zone_and_today(request.user.pk)
    if _year_summary(request.user.pk, zone_name=zone_name, year=year, today=today) is None:
        raise Http404("No plays in that year.")
    try:
        with transaction.atomic():
            RecapShare.objects.create(
                user=request.user, year=year, display_name=name, token=secrets.token_urlsafe(32)
            )
    except IntegrityError:
        pass  # already shared (a second click, another tab): the existing link stays
    return redirect(reverse("history:recap", args=[year]) + "#share")


@require_POST
@login_required
def unshare(request, year):
    """Revoke the link: the row goes, and the link is a 404 from now on."""
    RecapShare.objects.filter(user=request.user, year=year).delete()
    return redirect(reverse("history:recap", args=[year]) + "#share")


@require_safe
def shared_recap(request, token):
    """A shared recap, for anyone with the link: that recap and the chosen name, nothing else."""
    found = RecapShare.objects.filter(token=token).values("user_id", "year", "display_name").first()
    context = None
    if found is not None:
        zone_name, today = _zone_and_today(found["user_id"])
        context = recap_context(
            found["user_id"], zone_name=zone_name, year=found["year"], today=today, public=True
        )
    if context is None:
        raise Http404("No such shared recap.")
    context.update({"public": True, "display_name": found["display_name"]})
    response = render(request, "listening_history/recap.html", context)
    # A revoked link must stop working at once: nothing may keep a copy.
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
