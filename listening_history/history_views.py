"""/history and /history/summary.json: what the listener's own history says; its exports.

The page and the JSON answer from ``precompute.get_summary`` (one code path): the page renders
it, the JSON shows its named fields. The exports stream every stored entry (``export``).
Nothing here reads another listener's rows.
"""

import re
from datetime import date, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe

from listening_history import charts, export, insights, links, precompute, sync
from listening_history.insights import SHOWN, BadRequest

KINDS = (
    ("Music", "music", "music_ms"),
    ("Podcasts", "podcast", "podcast_ms"),
    ("Audiobooks", "audiobook", "audiobook_ms"),
    ("Other", "other", "other_ms"),
)


def _resolve(request, *, allow_tz_param):
    """(zone name, period, order, today) of the request; raises BadRequest."""
    saved = precompute.zone_of(request.user.pk)
    zone_name = saved or precompute.DEFAULT_ZONE
    if allow_tz_param and request.GET.get("tz") not in (None, ""):
        zone_name = request.GET["tz"]
    tz = insights.zone(zone_name)
    today = insights.today_in(tz)
    period = insights.parse_period(request.GET, today=today)
    order = insights.parse_order(request.GET.get("order"))
    return zone_name, period, order, today


@require_safe
@login_required
@never_cache
def summary_json(request):
    try:
        zone_name, period, order, today = _resolve(request, allow_tz_param=True)
    except BadRequest as error:
        return JsonResponse({"error": str(error)}, status=400)
    data = precompute.get_summary(
        request.user.pk, zone_name=zone_name, period=period, order=order, today=today
    )
    return JsonResponse(insights.summary_json(data))


@require_safe
@login_required
@never_cache
def history(request):
    try:
        zone_name, period, order, today = _resolve(request, allow_tz_param=False)
    except BadRequest as error:
        return render(request, "400.html", {"message": str(error)}, status=400)
    data = precompute.get_summary(
        request.user.pk, zone_name=zone_name, period=period, order=order, today=today
    )
    everything = (
        data
        if period.all_time and order == "time"
        else precompute.get_summary(
            request.user.pk, zone_name=zone_name, period=insights.Period(), today=today
        )
    )
    context = {
        "data": data,
        "zone_name": zone_name,
        "zone_chosen": precompute.zone_of(request.user.pk) is not None,
        "zones": sorted(insights.zone_names()),
        "order": order,
        "period": period,
        "period_label": period_label(period, today),
        "presets": presets(everything["months"] or [], period, today),
        "empty": not everything["ms_played"] and not everything["first_play"],
        "kinds": [
            {
                "label": label,
                "css": css,
                "ms": data[field],
                "duration": charts.duration(data[field]),
            }
            for label, css, field in KINDS
        ],
        **_charts(data),
        "split_svg": charts.split_svg([(k[0], k[1], data[k[2]]) for k in KINDS]),
        "habits": habits(data["habits"]),
        "habit_lists": [
            ("Platforms", data["habits"]["platform"]),
            ("Countries", data["habits"]["conn_country"]),
            ("How streams ended", data["habits"]["reason_end"]),
        ],
        "total_duration": charts.duration(data["ms_played"]),
        "first_play": _local(data["first_play"], zone_name),
        "last_play": _local(data["last_play"], zone_name),
        "top": [
            {
                "id": key,
                "title": title,
                "noun": noun,
                "items": links.linked_items(data[f"top_{key}"], key, request.user.pk),
            }
            for key, title, noun in (
                ("tracks", "Top tracks", "track"),
                ("artists", "Top artists", "artist"),
                ("albums", "Top albums", "album"),
                ("shows", "Top shows", "show"),
            )
        ],
        "shown": SHOWN,
        "query": _query(period),
        **sync_context(request.user),
    }
    return render(request, "listening_history/history.html", context)


def _charts(data):
    """The listening clock and the timeline, as SVG and as tables (/history and details)."""
    return {
        "clock_svg": charts.clock_svg(data["clock"]),
        "clock_rows": [
            {"day": day, "hours": [charts.duration(ms) for ms in row]}
            for day, row in zip(charts.WEEKDAYS, data["clock"], strict=True)
        ],
        "timeline_svg": charts.timeline_svg(data["timeline"]),
        "timeline_rows": [
            {
                "label": charts.bucket_label(bucket["start"], data["timeline"]["unit"]),
                "duration": charts.duration(bucket["ms_played"]),
                "plays": bucket["plays"],
            }
            for bucket in data["timeline"]["buckets"]
            if bucket["ms_played"]
        ],
    }


TRACK_URI = re.compile(r"spotify:track:([A-Za-z0-9]{1,40})")


def spotify_link(uri):
    """open.spotify.com's page of a well-formed track URI, else None."""
    match = TRACK_URI.fullmatch(uri or "")
    return f"https://open.spotify.com/track/{match[1]}" if match else None


def _local(iso, zone_name):
    """'2024-03-31 14:05' in the listener's zone, from summary.json's UTC ISO string."""
    if iso is None:
        return None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(insights.zone(zone_name)).strftime("%Y-%m-%d %H:%M")


def _query(period):
    if period.all_time:
        return ""
    return f"from={period.start.isoformat()}&to={period.end.isoformat()}"


def period_label(period, today):
    if period.all_time:
        return "All time"
    if period == insights.last_12_months(today):
        return "Last 12 months"
    start, end = period.start, period.end
    if start.day == 1 and start.month == 1 and end == date(start.year, 12, 31):
        return str(start.year)
    if precompute.is_preset(period, today=today):
        return start.strftime("%B %Y")
    return f"{start.isoformat()} to {end.isoformat()}"


def presets(months, current, today):
    """Links of the period picker: all time, last 12 months, years, months of the current year."""
    links = [("All time", insights.Period())]
    links.append(("Last 12 months", insights.last_12_months(today)))
    years = sorted({int(month[:4]) for month in months}, reverse=True)
    for year in years:
        links.append((str(year), insights.Period(date(year, 1, 1), date(year, 12, 31))))
    year_links = [
        {"label": label, "query": _query(period), "current": period == current}
        for label, period in links
    ]
    shown_year = current.start.year if current.start else (years[0] if years else None)
    month_links = []
    for month in months:
        if shown_year is None or int(month[:4]) != shown_year:
            continue
        period = precompute.month_period(month)
        month_links.append(
            {
                "label": period.start.strftime("%b"),
                "query": _query(period),
                "current": period == current,
            }
        )
    return {"years": year_links, "months": month_links, "year": shown_year}


def habits(raw):
    def share(part):
        known, yes = part["known"], part["yes"]
        if not known:
            return None
        return {"percent": round(100 * yes / known), "yes": yes, "known": known}

    return {
        "skip": share(raw["skip"]),
        "shuffle": share(raw["shuffle"]),
        "offline": share(raw["offline"]),
    }


@require_POST
@login_required
def set_zone(request):
    """Save the listener's time zone (the first-visit offer and the settings form)."""
    name = request.POST.get("zone", "")
    try:
        precompute.set_zone(request.user.pk, name)
    except BadRequest as error:
        return render(request, "400.html", {"message": str(error)}, status=400)
    from listening_history.tasks import rebuild_summaries

    rebuild_summaries.enqueue(request.user.pk)
    return redirect(reverse("history:history"))


@require_GET  # not HEAD: it would read the whole history for nothing
@login_required
@never_cache
def export_csv(request):
    """Every stored entry of the listener as CSV (README: "Your listening history")."""
    return _download(
        export.csv_bytes(request.user.pk),
        content_type="text/csv; charset=utf-8",
        filename=f"euterpe_listening_history_{_today()}.csv",
    )


@require_GET  # not HEAD: it would read the whole history for nothing
@login_required
@never_cache
def export_json(request):
    """Every stored entry of the listener in Spotify's extended streaming history shape.

    Named as Spotify names those files, so the file imports back (alone or in a ZIP) and
    other tools that read Spotify's export take it.
    """
    return _download(
        export.json_bytes(request.user.pk),
        content_type="application/json",
        filename=f"Streaming_History_Audio_Euterpe_{_today()}.json",
    )


def _download(pieces, *, content_type, filename):
    response = StreamingHttpResponse(pieces, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _today():
    return timezone.now().date().isoformat()


def sync_context(user):
    """The sync card: whether the operator turned it on, and the listener's own state."""
    if not settings.HISTORY_SYNC_ENABLED:
        return {"sync_enabled": False, "sync": sync.state_of(user)}
    return {
        "sync_enabled": True,
        "sync": sync.state_of(user),
        "sync_minutes": settings.HISTORY_SYNC_INTERVAL_MINUTES,
        "sync_retention_days": settings.HISTORY_SYNC_RETENTION_DAYS,
    }


@require_POST
@login_required
def set_sync(request):
    """ "Keep adding what I play" (``keep=yes``) or stop it (``keep=no``)."""
    keep = request.POST.get("keep")
    if keep == "no":
        sync.opt_out(request.user)
        messages.info(request, "Euterpe no longer adds what you play; what it added stays.")
    elif keep == "yes" and settings.HISTORY_SYNC_ENABLED:
        sync.opt_in(request.user)
        messages.info(
            request, "Euterpe will add what you play from now on; the first plays come shortly."
        )
    elif keep == "yes":
        messages.warning(request, "Adding what you play is turned off on this Euterpe.")
    else:
        return render(request, "400.html", {"message": "Say yes or no."}, status=400)
    return redirect(reverse("history:history"))


# -- an artist's and a track's own pages ------------------------------------------------


@require_safe
@login_required
@never_cache
def artist(request, ident):
    """/history/artist/<id>: one of the listener's artists (``links``), else a 404."""
    return _detail(request, links.find_artist(request.user.pk, ident), "artist", ident)


@require_safe
@login_required
@never_cache
def track(request, ident):
    """/history/track/<id>: one of the listener's tracks, however spelled, else a 404."""
    return _detail(request, links.find_track(request.user.pk, ident), "track", ident)


def _detail(request, found, kind, ident):
    if found is None:
        raise Http404(f"No such {kind} in your history.")
    try:
        zone_name, period, order, today = _resolve(request, allow_tz_param=False)
    except BadRequest as error:
        return render(request, "400.html", {"message": str(error)}, status=400)
    user_id = request.user.pk
    data = precompute.get_detail(
        user_id,
        kind=kind,
        ident=ident,
        items=found.items,
        zone_name=zone_name,
        period=period,
        order=order,
        today=today,
    )
    if not data["months"]:
        # Items whose entries went (a cancelled import): nothing to show, as for a stranger.
        raise Http404(f"No such {kind} in your history.")
    top = data["top_artists" if kind == "artist" else "top_tracks"]
    if not top:
        # Nothing in this period: the name as all time spells it.
        everything = insights.detail(user_id, items=found.items, tz_name=zone_name)
        top = everything["top_artists" if kind == "artist" else "top_tracks"]
    this = top[0]
    context = {
        "kind": kind,
        "data": data,
        "name": this["name"],
        "zone_name": zone_name,
        "order": order,
        "period": period,
        "period_label": period_label(period, today),
        "presets": presets(data["months"], period, today),
        "total_duration": charts.duration(data["ms_played"]),
        "first_play": _local(data["first_play"], zone_name),
        "last_play": _local(data["last_play"], zone_name),
        "shown": SHOWN,
        **_charts(data),
    }
    if kind == "artist":
        context["top"] = [
            {
                "id": key,
                "title": title,
                "noun": noun,
                # Every line's artist is this page's: no link back to it.
                "items": [
                    {**item, "artist_url": None}
                    for item in links.linked_items(data[f"top_{key}"], key, user_id)
                ],
            }
            for key, title, noun in (
                ("tracks", "Top tracks", "track"),
                ("albums", "Albums", "album"),
            )
        ]
    else:
        merged = next(
            (m for m in data["merged"] if (m["track"], m["artist"]) == found.key),
            {"spellings": [], "uris": []},
        )
        context.update(
            {
                "artist": this["artist"],
                "artist_url": links.artist_url(user_id, this["artist"]),
                "spotify": spotify_link(this["uri"]),
                "top": [
                    {
                        "id": "albums",
                        "title": "On albums",
                        "noun": "album",
                        "items": links.linked_items(data["top_albums"], "albums", user_id),
                    }
                ],
                "spellings": [
                    {"name": name, "artist": artist, "entries": entries}
                    for name, artist, entries in merged["spellings"]
                ],
                "uris": [
                    {"uri": uri, "link": spotify_link(uri), "entries": entries}
                    for uri, entries in merged["uris"]
                ],
            }
        )
    return render(request, "listening_history/detail.html", context)
