from django.conf import settings


def site(request):
    return {"spotify_demo": settings.SPOTIFY_DEMO}
