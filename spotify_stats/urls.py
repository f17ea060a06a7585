from django.urls import path

from spotify_stats import views

app_name = "spotify_stats"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("refresh", views.refresh, name="refresh"),
]
