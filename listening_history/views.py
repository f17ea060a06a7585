"""The listener's history pages: import (upload, status, cancel) and "Delete my history"."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from listening_history import services
from listening_history.models import Entry, Import

logger = logging.getLogger(__name__)

RECENT_IMPORTS = 10


def _own_import(request, import_id):
    """The listener's own import; anyone else's id is a 404, like one that does not exist."""
    return get_object_or_404(Import, pk=import_id, user=request.user)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def import_page(request):
    """GET: how to get the export and the upload form. POST: store the upload, 303 to its page."""
    error, status = None, 200
    if request.method == "POST":
        try:
            upload = services.start_import(user=request.user, files=request.FILES.getlist("files"))
        except services.ImportRefused as refused:
            error, status = str(refused), 503 if not settings.HISTORY_IMPORT_ENABLED else 400
        else:
            response = redirect("listening_history:status", import_id=upload.pk)
            response.status_code = 303  # See Other: the browser GETs the import's page
            return response
    response = render(request, "listening_history/import.html", _page_context(request, error))
    response.status_code = status
    return response


@never_cache
@login_required
@require_POST
def import_demo(request):
    """Demo mode only: import the generated demo export, as an upload would be (303)."""
    if not settings.SPOTIFY_DEMO:
        raise Http404("No demo export outside demo mode")
    try:
        upload = services.start_demo_import(user=request.user)
    except services.ImportRefused as refused:
        status = 503 if not settings.HISTORY_IMPORT_ENABLED else 400
        response = render(
            request, "listening_history/import.html", _page_context(request, str(refused))
        )
        response.status_code = status
        return response
    response = redirect("listening_history:status", import_id=upload.pk)
    response.status_code = 303
    return response


def _page_context(request, error=None):
    return {
        "error": error,
        "enabled": settings.HISTORY_IMPORT_ENABLED,
        "demo": settings.SPOTIFY_DEMO,
        "max_upload_mb": settings.HISTORY_MAX_UPLOAD_MB,
        "imports": Import.objects.filter(user=request.user)[:RECENT_IMPORTS],
        "entry_count": Entry.objects.filter(user=request.user).aggregate(n=Count("ts"))["n"],
    }


@never_cache
@login_required
@require_GET
def status_page(request, import_id):
    upload = _own_import(request, import_id)
    return render(
        request,
        "listening_history/status.html",
        {
            "upload": upload,
            "status_url": reverse("listening_history:status-json", args=[upload.pk]),
            "entry_count": Entry.objects.filter(user=request.user).aggregate(n=Count("ts"))["n"],
        },
    )


@never_cache
@login_required
@require_GET
def status_json(request, import_id):
    return JsonResponse(services.status(_own_import(request, import_id)))


@never_cache
@login_required
@require_POST
def cancel(request, import_id):
    upload = _own_import(request, import_id)
    if services.cancel_import(upload):
        messages.info(request, "The import was cancelled.")
    return redirect("listening_history:status", import_id=upload.pk)


@never_cache
@login_required
@require_POST
def delete(request):
    """Delete every entry and import of the listener, once they ticked the confirmation."""
    if request.POST.get("confirm") != "yes":
        messages.warning(request, "Tick the box to confirm, then press Delete my history again.")
        return redirect("listening_history:import")
    counts = services.delete_history(request.user)
    messages.info(
        request,
        f"Your listening history is deleted: {counts['entries']:,} "
        f"entr{'y' if counts['entries'] == 1 else 'ies'} and "
        f"{counts['imports']} import{'s' if counts['imports'] != 1 else ''}.",
    )
    return redirect("listening_history:import")
