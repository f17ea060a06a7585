"""Heroku's router, played on this machine in front of a plain-HTTP gunicorn.

On a dyno, TLS ends at the router: gunicorn gets plain HTTP with
``X-Forwarded-Proto: https`` and the client's address appended to
``X-Forwarded-For``. :class:`RouterAdapter`, mounted on a ``requests.Session``
for the public ``https://`` origin, does the same: the session only ever sees
https URLs (so it keeps and sends Secure cookies) while the request goes to the
backend over plain HTTP with the router's headers.
"""

from requests.adapters import HTTPAdapter


class RouterAdapter(HTTPAdapter):
    """Plays Heroku's router for one public https origin served by plain-HTTP gunicorn."""

    def __init__(self, public_origin: str, backend_origin: str, client_ip: str, **kwargs):
        self.public_origin = public_origin
        self.backend_origin = backend_origin
        self.client_ip = client_ip
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        forwarded = request.copy()
        forwarded.url = self.backend_origin + request.url[len(self.public_origin) :]
        forwarded.headers["X-Forwarded-Proto"] = "https"
        # The router appends the address it saw; whatever the client sent comes first.
        sent = forwarded.headers.get("X-Forwarded-For")
        forwarded.headers["X-Forwarded-For"] = (
            f"{sent}, {self.client_ip}" if sent else self.client_ip
        )
        response = super().send(forwarded, **kwargs)
        response.url = request.url
        response.request = request
        return response
