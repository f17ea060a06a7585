"""Operator endpoints (/health, /db_check) and the CSRF failure page."""

import hmac

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.services import display_name
from euterpe_site import dbcheck


@require_GET
@never_cache
def health(request):
    """Cheap liveness answer: no database query beyond the session's own."""
    user = request.user
    authenticated = user.is_authenticated
    return JsonResponse(
        {
            "status": "healthy",
            "authenticated": authenticated,
            "user": display_name(user) if authenticated else None,
        }
    )


def _bearer_token(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _ops_token_matches(token):
    expected = settings.OPS_TOKEN
    # An unset OPS_TOKEN matches nothing; compare in constant time.
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


@require_GET
@never_cache
def db_check(request):
    """The dbcheck report as JSON, for staff or `Authorization: Bearer $OPS_TOKEN`."""
    token = _bearer_token(request)
    if token is not None:
        if not _ops_token_matches(token):
            return JsonResponse({"error": "forbidden"}, status=403)
    elif not request.user.is_authenticated:
        response = JsonResponse({"error": "authentication required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="euterpe"'
        return response
    elif not request.user.is_staff:
        return JsonResponse({"error": "forbidden"}, status=403)
    report = dbcheck.run(connection)
    return JsonResponse(report.as_json(), status=200 if report.healthy else 503)


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico on every page that names no icon (the admin's)."""
    return redirect(static("img/euterpe.svg"), permanent=True)


def csrf_failure(request, reason=""):
    return render(
        request,
        "403_csrf.html",
        {"reason": "The form expired or came from another site. Please try again."},
        status=403,
    )
