"""social-auth's URL namespace ("social"), mounted at the site root.

Only the two views Euterpe uses: ``social:begin`` (POST /login/spotify/ starts the
login) and ``social:complete`` (social-auth reverses it; it runs the same
error-handled view as /callback). social_django's own disconnect URLs are left
out: /disconnect deletes the listener's data as well.
"""

from django.urls import path
from social_django import views as social_views

from accounts import views

app_name = "social"

urlpatterns = [
    path("login/<str:backend>/", social_views.auth, name="begin"),
    path("complete/<str:backend>/", views.complete, name="complete"),
]
