"""Who is logged in, from the session's one query; private pages are never cached; a
listener who must log in again is sent to /login."""

from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject

from accounts.sessions import user_loaded_with
from accounts.tokens import ReauthenticationRequired


class ListenerAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's ``AuthenticationMiddleware``, without a query for the user row when
    the session's own query brought it (``accounts.sessions.user_loaded_with``
    makes Django's checks on it); otherwise Django's ``auth.get_user`` as it is.

    A warm dashboard is then two queries: the session with its user, and the
    cached sections. In MIDDLEWARE where Django's would be.
    """

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))


def _get_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = user_loaded_with(request.session) or auth.get_user(request)
    return request._cached_user


class PrivatePagesMiddleware:
    """``Cache-Control: no-store`` (and friends) on every response to a logged-in listener,
    and the reauthentication redirect when a view lets ReauthenticationRequired escape.

    Goes after AuthenticationMiddleware and MessageMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, ReauthenticationRequired):
            from accounts.views import reauthenticate

            return reauthenticate(request)
        return None
