from social_core.backends.spotify import SpotifyOAuth2 as BaseSpotifyOAuth2


class SpotifyOAuth2(BaseSpotifyOAuth2):
    pass
