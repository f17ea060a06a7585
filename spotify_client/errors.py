"""The domain errors every client function raises, and nothing else of the transport's."""


class SpotifyError(Exception):
    """Base of every error this package raises; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str = "", *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class TokenExpired(SpotifyError):
    """401: the access token expired or was revoked; refresh it and try again."""


class NotOnAllowList(SpotifyError):
    """403 "User not registered in the Developer Dashboard" (Development Mode)."""


class RateLimited(SpotifyError):
    """429; ``retry_after`` in seconds (None when Spotify gave none), ``reason``
    such as ``QUOTA_EXCEEDED`` when the body names one."""

    def __init__(
        self,
        retry_after: int | None = None,
        *,
        reason: str | None = None,
        message: str = "Rate limited by Spotify",
        status: int | None = 429,
    ):
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.reason = reason


class SpotifyUnavailable(SpotifyError):
    """5xx, a timeout, a refused connection, or no time left before the deadline."""


class BadResponse(SpotifyError):
    """An answer Euterpe cannot use: not JSON, an unexpected shape, another 4xx."""


class TokenRevoked(SpotifyError):
    """The accounts service said ``invalid_grant``: the refresh token is dead
    (expired, revoked or rotated away). Discard it and ask the listener to log
    in again; do not retry."""


class SpotifyBusy(SpotifyError):
    """Every thread this process lets wait on Spotify is waiting already (see
    :func:`spotify_client.transport.waiting_slot`): answer without Spotify (a
    section's message, a "busy, try again" page) instead of queueing."""


class TokenEndpointError(BadResponse):
    """Any other error from the token endpoint (``invalid_client``...)."""
