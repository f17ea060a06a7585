"""Log in with Spotify, log out (here or everywhere), disconnect, and the privacy page.

The OAuth callback wraps social-auth's ``complete`` view: every failure a
browser or Spotify can cause becomes a friendly page with a way to try again
(400, 403, 409 or 502, never a 500, whatever DEBUG says) and no session.
"""

import logging
import re
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.db import DataError
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from social_core.exceptions import (
    AuthAssociationError,
    AuthCanceled,
    AuthConfigurationError,
    AuthProviderError,
    AuthResponseError,
    SocialAuthBaseException,
)
from social_django import views as social_views
from social_django.utils import load_backend, load_strategy

import spotify_client
from accounts import services
from accounts.backends import NotOnAllowList
from accounts.models import RefusedLogin
from accounts.sessions import end_sessions_of

logger = logging.getLogger(__name__)

SPOTIFY_APPS_URL = "https://www.spotify.com/account/apps/"

# social-auth resumes a partial pipeline from this parameter; Euterpe has none.
PARTIAL_TOKEN_PARAMETER = "partial_token"  # noqa: S105 (a parameter name)
# A login that finds Spotify busy is asked to try again after this long.
BUSY_RETRY_AFTER_SECONDS = 5
# C0 and C1 control characters (NUL among them): never in anything Spotify sends.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# What the listener reads when a login fails, by failure kind: (status, title, text).
FAILURES = {
    # Declining is the listener's choice, not an error: a plain 200 page.
    "declined": (
        200,
        "You did not connect Spotify",
        "You chose not to let Euterpe read your Spotify listening data, so you are not "
        "logged in. You can change your mind at any time.",
    ),
    "expired": (
        400,
        "That login did not go through",
        "The answer from Spotify did not match a login started here: it may have expired, "
        "been used already, or come from another browser tab. Please start again.",
    ),
    "conflict": (
        409,
        "That Spotify account is already linked",
        "This Spotify account is linked to another Euterpe account, or two logins for it "
        "crossed. Please try again; if it keeps happening, ask the person who runs Euterpe.",
    ),
    "spotify": (
        502,
        "Spotify did not answer as expected",
        "Euterpe could not finish the login because Spotify failed or was slow to answer. "
        "Please try again in a minute.",
    ),
    "configuration": (
        502,
        "Euterpe's Spotify settings look wrong",
        "Spotify did not accept Euterpe's app credentials or redirect URI. If you run this "
        "Euterpe, check SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REDIRECT_URI.",
    ),
}


def safe_next(request, value):
    """``value`` if it is a path on this site, else "" (``?next=`` never leaves Euterpe)."""
    if not value or not isinstance(value, str):
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return ""
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return value


@never_cache
@require_GET
def login_page(request):
    """The "Log in with Spotify" page: a POST form (with CSRF) to social-auth's begin URL."""
    next_url = safe_next(request, request.GET.get("next"))
    if request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/login.html", {"next": next_url})


@never_cache
@csrf_exempt
@require_GET
def callback(request):
    """Spotify's redirect URI (``SPOTIFY_REDIRECT_URI``, path /callback)."""
    return _complete(request, "spotify")


@never_cache
@csrf_exempt
@require_GET
def complete(request, backend):
    """social-auth's ``social:complete`` URL, with the same error handling as /callback."""
    return _complete(request, backend)


def _complete(request, backend):
    # A callback is always a fresh login: whoever Spotify says it is gets the
    # session (django's login() flushes another listener's session, cycles one's own).
    request.user = AnonymousUser()
    if PARTIAL_TOKEN_PARAMETER in request.GET:
        return _login_failed(request, "expired", reason="partial_token in the callback")
    if _has_control_characters(request.GET):
        # A NUL would reach PostgreSQL (DataError) in social-auth's lookups.
        return _login_failed(request, "expired", reason="control character in the callback")
    if not request.GET.get("code") and not request.GET.get("error"):
        # Without either, Spotify did not send this; the token endpoint would
        # answer invalid_request, which social-auth reports as a configuration error.
        return _login_failed(request, "expired", reason="no code in the callback")
    if request.GET.get("error") and not _answers_a_pending_login(request, backend):
        # social-auth reads `error` before it checks `state`: anyone could link a
        # stranger to /callback?error=invalid_client and page the operator (ERROR,
        # Sentry). Only an answer to this session's own login may say more.
        return _login_failed(request, "expired", reason="error without a pending login")
    try:
        # The token exchange and the profile fetch wait on Spotify: one of the
        # process's waiting slots for both, or a "busy, try again" page at once.
        with spotify_client.waiting_slot():
            response = social_views.complete(request, backend)
    except spotify_client.SpotifyBusy:
        return _busy(request)
    except NotOnAllowList:
        services.record_refused_login(
            reason=RefusedLogin.Reason.NOT_ON_ALLOW_LIST,
            user_agent=request.headers.get("User-Agent", ""),
        )
        logger.warning("Login failed: listener not on the Development Mode allow-list")
        return render(request, "accounts/not_on_allow_list.html", status=403)
    except AuthCanceled as error:
        return _login_failed(request, "declined", error)
    except AuthAssociationError as error:
        return _login_failed(request, "conflict", error)
    except AuthConfigurationError as error:
        return _login_failed(request, "configuration", error, level=logging.ERROR)
    except (AuthProviderError, AuthResponseError) as error:
        return _login_failed(request, "spotify", error)
    except SocialAuthBaseException as error:
        return _login_failed(request, "expired", error)
    except (spotify_client.SpotifyError, requests.RequestException) as error:
        return _login_failed(request, "spotify", error)
    # Last resort, so that no input ever makes a 500 (whose DEBUG page would show
    # the pipeline's locals). Only the exception's class is logged, never its text.
    except DataError as error:
        # PostgreSQL refused a value that came in with the callback.
        return _login_failed(request, "expired", reason=type(error).__name__)
    except (ValueError, TypeError, OverflowError, KeyError) as error:
        # Spotify's answer did not have the shape Euterpe expects.
        return _login_failed(request, "spotify", reason=type(error).__name__)
    user = request.user
    if user.is_authenticated:
        logger.info(
            "User %s (%s) logged in successfully",
            services.one_line(services.display_name(user)),
            user.get_username(),
        )
    return response


def _busy(request):
    """503 with Retry-After: Spotify is slow and every thread that may wait on it is
    waiting. Nothing of the login was used up: the same callback URL works again."""
    logger.warning("Login postponed: every thread that may wait on Spotify is waiting")
    response = render(
        request,
        "accounts/busy.html",
        {"retry_url": request.get_full_path(), "retry_after": BUSY_RETRY_AFTER_SECONDS},
        status=503,
    )
    response["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
    return response


def _answers_a_pending_login(request, backend_name):
    """Whether the callback's ``state`` is that of a login this session started."""
    state = request.GET.get("state")
    if not state or len(state) > 128:
        return False
    try:
        backend = load_backend(load_strategy(request), backend_name, redirect_uri=None)
    except AuthConfigurationError:  # no backend of that name
        return False
    pending = request.session.get(backend.transaction_key(state))
    stored = pending.get("state") if isinstance(pending, dict) else None
    return isinstance(stored, str) and constant_time_compare(stored, state)


def _has_control_characters(query):
    return any(
        CONTROL_CHARACTERS.search(text) for key, values in query.lists() for text in (key, *values)
    )


def _login_failed(request, kind, error=None, *, reason=None, level=logging.WARNING):
    # Only fixed vocabulary goes to the log: never the provider's text, a code or a token.
    logger.log(
        level,
        "Login failed: %s (%s, %s)",
        kind,
        reason or type(error).__name__,
        getattr(error, "code", "-"),
    )
    status, title, text = FAILURES[kind]
    return render(
        request, "accounts/login_failed.html", {"title": title, "text": text}, status=status
    )


@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request):
    """GET: a one-button confirmation page. POST (with CSRF): flush the session."""
    if request.method == "POST":
        if request.user.is_authenticated:
            logger.info("User %s logged out", request.user.get_username())
        auth.logout(request)
        messages.info(request, "You are logged out.")
        return redirect("accounts:login")
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@never_cache
@login_required
@require_POST
def logout_everywhere(request):
    """POST (with CSRF): end every session of the listener, on every device; keep their data."""
    user = request.user
    ended = end_sessions_of(user)
    auth.logout(request)
    logger.info("User %s logged out everywhere (%s sessions)", user.get_username(), ended)
    messages.info(request, "You are logged out on every device.")
    return redirect("accounts:login")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request):
    """GET: what disconnecting deletes. POST (with CSRF): delete it all and log out."""
    if request.method == "POST":
        user = request.user
        services.disconnect_listener(user)
        auth.logout(request)
        return render(request, "accounts/disconnected.html", {"spotify_apps_url": SPOTIFY_APPS_URL})
    return render(request, "accounts/disconnect.html")


@require_GET
def privacy(request):
    """What Euterpe stores, for how long, and how to delete it."""
    return render(
        request,
        "accounts/privacy.html",
        {
            "spotify_apps_url": SPOTIFY_APPS_URL,
            "session_days": settings.SESSION_COOKIE_AGE // 86400,
            "cache_minutes": max(1, settings.SPOTIFY_CACHE_SECONDS // 60),
            "history_sync": settings.HISTORY_SYNC_ENABLED,
            "sync_minutes": settings.HISTORY_SYNC_INTERVAL_MINUTES,
            "sync_retention_days": settings.HISTORY_SYNC_RETENTION_DAYS,
        },
    )


def reauthenticate(request):
    """End the listener's session and send them to /login with a message.

    For views that catch ``accounts.tokens.ReauthenticationRequired`` themselves;
    ``accounts.middleware.PrivatePagesMiddleware`` does the same for views
    that let it propagate. Comes back to the current page after the login.
    """
    next_path = request.get_full_path() if request.method == "GET" else "/"
    auth.logout(request)
    messages.info(request, "Your Spotify connection has ended. Please log in with Spotify again.")
    response = redirect_to_login(next_path)
    add_never_cache_headers(response)
    return response
