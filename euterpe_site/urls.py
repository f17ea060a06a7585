from django.contrib import admin
from django.urls import include, path

from euterpe_site import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("db_check", views.db_check, name="db-check"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("spotify_stats.urls")),
]
