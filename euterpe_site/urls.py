from django.contrib import admin
from django.urls import include, path

from euterpe_site import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("db_check", views.db_check, name="db-check"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    # social-auth's "social" namespace: POST /login/spotify/ begins a login.
    path("", include("accounts.social_urls")),
    path("", include("spotify_stats.urls")),
    path("", include("listening_history.history_urls")),
    path("", include("listening_history.urls")),
]
