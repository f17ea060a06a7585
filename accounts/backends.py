"""Spotify login for social-auth, pointed at SPOTIFY_* settings at call time.

social-core's Spotify backend hard-codes its profile URL and reads its other
URLs and credentials once, from SOCIAL_AUTH_* settings computed at import. This
subclass reads Django's SPOTIFY_* settings on every call (so tests and the demo
can point it at the fake Spotify) and fetches the profile through
``spotify_client``, the one package that talks to the Web API.
"""

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from social_core.backends.spotify import SpotifyOAuth2 as BaseSpotifyOAuth2
from social_core.exceptions import AuthException, AuthProviderError

import spotify_client


class NotOnAllowList(AuthException):
    """Spotify let the listener authorise, then refused /me: the app is in
    Development Mode and the listener is not on its allow-list."""

    default_code = "authentication_disallowed"


class SpotifyOAuth2(BaseSpotifyOAuth2):
    """Authorization code flow against ``SPOTIFY_AUTH_BASE_URL``.

    Client credentials go in an HTTP Basic header (never in the form body), and
    the redirect URI sent to Spotify is ``SPOTIFY_REDIRECT_URI`` byte for byte.
    """

    USE_BASIC_AUTH = True

    def authorization_url(self):
        return f"{settings.SPOTIFY_AUTH_BASE_URL}/authorize"

    def access_token_url(self):
        return f"{settings.SPOTIFY_AUTH_BASE_URL}/api/token"

    def get_key_and_secret(self):
        return settings.SPOTIFY_CLIENT_ID, settings.SPOTIFY_CLIENT_SECRET

    def get_scope(self):
        return settings.SPOTIFY_SCOPE.split()

    def get_redirect_uri(self, state=None):
        return settings.SPOTIFY_REDIRECT_URI

    def auth_headers(self):
        # requests adds the Basic credentials from auth_complete_credentials().
        return {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def get_user_details(self, response):
        """Username is the Spotify id; first_name the display name ("" when Spotify has none)."""
        return {
            "username": response.get("id"),
            "first_name": (response.get("display_name") or "")[:150],
            "last_name": "",
            "fullname": response.get("display_name") or "",
            "email": "",
        }

    @sensitive_variables()
    def user_data(self, access_token, *args, **kwargs):
        """The listener's profile as ``{"id", "display_name"}``.

        Raises NotOnAllowList when Spotify refuses the listener (Development Mode
        allow-list) and AuthProviderError for any other Spotify failure.
        """
        try:
            profile = spotify_client.get_profile(access_token)
        except spotify_client.NotOnAllowList as error:
            raise NotOnAllowList(self, code="not_on_allow_list", stage="user_info") from error
        except spotify_client.SpotifyError as error:
            raise AuthProviderError(
                self, type(error).__name__, code="http_error", stage="user_info"
            ) from error
        return {"id": profile.id, "display_name": profile.display_name}
