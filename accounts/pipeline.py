"""Steps of Euterpe's social-auth pipeline (see SOCIAL_AUTH_PIPELINE in settings).

They replace social-core's ``get_username``/``create_user`` (the username must be
the Spotify id, never a made-up variant), ``load_extra_data`` (which would write
the tokens in plaintext into ``UserSocialAuth.extra_data``) and ``user_details``.
"""

from django.views.decorators.debug import sensitive_variables
from social_core.exceptions import AuthAssociationError, AuthResponseError

from accounts import services, tokens


def listener(backend, details, user=None, *args, **kwargs):
    """Find or create the user of this Spotify account and refresh their display name.

    ``user`` is the one social-auth found linked to this Spotify account (the
    callback always completes as a fresh login). A link to a user whose username
    is not the Spotify id is a conflict: AuthAssociationError. So is a user named
    like the Spotify id that is not linked to this Spotify account (a superuser
    ``bob`` is not Spotify's ``bob``): it is left untouched.
    """
    spotify_id = details.get("username")
    if not spotify_id:
        raise AuthResponseError(backend, claim="id", code="missing_claim", stage="pipeline")
    if user is not None and user.get_username() != spotify_id:
        raise AuthAssociationError(backend, code="identity_in_use", stage="pipeline")
    try:
        account, created = services.listener_for_login(
            spotify_id=spotify_id, spotify_name=details.get("first_name")
        )
    except services.UsernameTaken:
        raise AuthAssociationError(backend, code="username_in_use", stage="pipeline") from None
    return {"user": account, "is_new": created}


@sensitive_variables()
def save_tokens(backend, user, response, *args, **kwargs):
    """Store the login's tokens encrypted in SpotifyToken; nothing goes to extra_data."""
    access_token = response.get("access_token")
    refresh_token = response.get("refresh_token")
    if not access_token or not refresh_token:
        raise AuthResponseError(
            backend, claim="refresh_token", code="missing_claim", stage="pipeline"
        )
    tokens.save_login_tokens(
        user,
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=response.get("expires_in"),
        scope=response.get("scope") or "",
    )
