"""The site's URLs plus two views that need Spotify, for the reauthentication tests."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

from accounts.tokens import ReauthenticationRequired, fresh_access_token
from accounts.views import reauthenticate
from euterpe_site.urls import urlpatterns as site_urlpatterns


@login_required
def lets_it_propagate(request):
    fresh_access_token(request.user)
    return HttpResponse("fetched")


@login_required
def catches_it(request):
    try:
        fresh_access_token(request.user)
    except ReauthenticationRequired:
        return reauthenticate(request)
    return HttpResponse("fetched")


urlpatterns = [
    path("needs-spotify", lets_it_propagate),
    path("needs-spotify-too", catches_it),
    *site_urlpatterns,
]
