"""Refuse an oversized history upload before anything reads its body."""

from django.conf import settings
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse


class UploadLimitMiddleware:
    """A POST to the import page whose Content-Length passes HISTORY_MAX_UPLOAD_MB gets
    a 413 page at once. Middleware, not the view: CSRF's check reads the body first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path == _import_path():
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.HISTORY_MAX_UPLOAD_MB * 1024 * 1024:
                response = render(
                    request,
                    "listening_history/too_large.html",
                    {"limit_mb": settings.HISTORY_MAX_UPLOAD_MB},
                    status=413,
                )
                # The unread body must not be taken for the next request.
                response["Connection"] = "close"
                return response
        return self.get_response(request)


def _import_path():
    try:
        return reverse("listening_history:import")
    except NoReverseMatch:  # a URLconf without the history pages (some tests use one)
        return None
