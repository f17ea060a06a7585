"""The operator's view of listeners: who, last login, token status, refused logins.

No token value is ever shown: the encrypted fields are not loaded at all (the
status comes from annotations), so a row under a lost key cannot break a page.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, OuterRef, Subquery
from social_django.admin import UserSocialAuthOption
from social_django.models import UserSocialAuth

from accounts import services
from accounts.models import RefusedLogin, SpotifyToken

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(UserSocialAuth)

SPOTIFY_FIELDS = ("spotify_connected", "spotify_token_expires_at", "spotify_token_refreshed_at")


@admin.register(User)
class ListenerAdmin(UserAdmin):
    """Listeners are Django users: username = Spotify id, first name = display name."""

    list_display = (
        "username",
        "first_name",
        "last_login",
        *SPOTIFY_FIELDS,
        "is_staff",
    )
    readonly_fields = ("last_login", "date_joined", *SPOTIFY_FIELDS)
    fieldsets = (*UserAdmin.fieldsets, ("Spotify", {"fields": SPOTIFY_FIELDS}))
    actions = ["disconnect_listeners"]

    def get_queryset(self, request):
        tokens = SpotifyToken.objects.filter(user_id=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_spotify_token=Exists(tokens),
                token_expires_at=Subquery(tokens.values("expires_at")[:1]),
                token_refreshed_at=Subquery(tokens.values("last_refreshed_at")[:1]),
            )
        )

    @admin.display(boolean=True, description="Connected", ordering="has_spotify_token")
    def spotify_connected(self, user):
        return getattr(user, "has_spotify_token", False)

    @admin.display(description="Token expires at", ordering="token_expires_at")
    def spotify_token_expires_at(self, user):
        return getattr(user, "token_expires_at", None)

    @admin.display(description="Token last refreshed", ordering="token_refreshed_at")
    def spotify_token_refreshed_at(self, user):
        return getattr(user, "token_refreshed_at", None)

    @admin.action(description="Disconnect selected listeners and delete their data")
    def disconnect_listeners(self, request, queryset):
        done = 0
        for user in queryset:
            if user.pk == request.user.pk:
                self.message_user(
                    request,
                    "You cannot disconnect yourself here: use Disconnect on your own page.",
                    messages.WARNING,
                )
                continue
            services.disconnect_listener(user)
            done += 1
        self.message_user(
            request, f"Disconnected {done} listener{'s' if done != 1 else ''}.", messages.SUCCESS
        )


@admin.register(RefusedLogin)
class RefusedLoginAdmin(admin.ModelAdmin):
    """Logins Spotify refused (Development Mode allow-list): people being turned away."""

    list_display = ("created_at", "reason", "user_agent")
    list_filter = ("reason",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserSocialAuth)
class SocialAuthAdmin(UserSocialAuthOption):
    """social_django's admin without extra_data (Euterpe keeps no tokens there anyway)."""

    exclude = ("extra_data",)
