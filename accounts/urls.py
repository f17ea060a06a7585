from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login", views.login_page, name="login"),
    # Spotify's redirect URI: registered as https://<app>/callback, keep the path.
    path("callback", views.callback, name="callback"),
    path("logout", views.logout_view, name="logout"),
    path("logout/everywhere", views.logout_everywhere, name="logout-everywhere"),
    path("disconnect", views.disconnect, name="disconnect"),
    path("privacy", views.privacy, name="privacy"),
]
