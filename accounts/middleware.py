"""Private pages are never cached; a listener who must log in again is sent to /login."""

from django.utils.cache import add_never_cache_headers

from accounts.tokens import ReauthenticationRequired


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
