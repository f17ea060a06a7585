"""The listener's dashboard at `/` and its "Refresh now" button."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

import spotify_client
from accounts.services import display_name
from spotify_stats import sections
from spotify_stats.backoff import backoff_remaining
from spotify_stats.cache import claim_refresh, forget_sections
from spotify_stats.dashboard import TIME_RANGE_LABELS, load_dashboard, parse_time_range
from spotify_stats.text import ago, as_of_iso

logger = logging.getLogger(__name__)

# "Refresh now" works once a minute per listener: each one costs Spotify calls
# counted against the app's shared rate limit.
REFRESH_INTERVAL_SECONDS = 60


@require_safe
@login_required
@never_cache
def dashboard(request):
    """The page: cached sections when warm, Spotify fetched at once when cold.

    An unknown ``time_range`` shows the default range (a mistyped link still
    shows the listener something useful). Always a 200 unless Spotify refuses
    the listener (the allow-list page, 403).
    """
    time_range = parse_time_range(request.GET.get("time_range"))
    try:
        page = load_dashboard(request.user, time_range=time_range)
    except spotify_client.NotOnAllowList:
        logger.warning("Spotify refused user %s: not on the app's allow-list", request.user.pk)
        return render(request, "accounts/not_on_allow_list.html", status=403)
    context = {
        "user_name": display_name(request.user),
        "sections": page.sections,
        # Each card of the page with its rendered section, in the registry's order.
        "cards": [(card, page.sections[card.name]) for card in sections.cards()],
        "time_range": time_range,
        "time_range_label": TIME_RANGE_LABELS[time_range],
        "time_ranges": [
            {
                "value": value,
                "short_label": label.removeprefix("Last "),
                "current": value == time_range,
            }
            for value, label in TIME_RANGE_LABELS.items()
        ],
        "as_of": ago(page.now - page.as_of) if page.as_of is not None else None,
        "as_of_iso": as_of_iso(page.as_of) if page.as_of is not None else None,
    }
    return render(request, "spotify_stats/dashboard.html", context)


@require_POST
@login_required
@never_cache
def refresh(request):
    """Drop the listener's cached sections so the next view fetches from Spotify.

    Allowed once per REFRESH_INTERVAL_SECONDS per listener (claimed in the shared
    cache, so it holds across workers); a second press only says so.
    """
    time_range = parse_time_range(request.POST.get("time_range"))
    wait = backoff_remaining()
    if wait:
        # Dropping the cache now would only swap the listener's data for messages.
        messages.info(
            request,
            f"Spotify asked Euterpe to slow down for {wait} more seconds; "
            "your data stays as it is until then.",
        )
    elif claim_refresh(request.user.pk, seconds=REFRESH_INTERVAL_SECONDS):
        forget_sections(request.user.pk)
    else:
        messages.info(
            request,
            "Euterpe refreshes your data at most once a minute. "
            "What you see is already fresh; try again in a little while.",
        )
    return redirect(f"{reverse('spotify_stats:dashboard')}?time_range={time_range}")
