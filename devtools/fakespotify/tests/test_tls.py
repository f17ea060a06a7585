"""The fake over HTTPS, for browser tests of an https Euterpe (no mixed content)."""

import ssl

import requests

from devtools.certificates import make_certificate
from devtools.fakespotify.server import FakeSpotify


def test_with_a_certificate_the_fake_speaks_https_and_its_image_urls_are_https(tmp_path):
    ca, cert, key = make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FakeSpotify(host="localhost", ssl_context=context) as fake:
        code = fake.authorize_code("alice", redirect_uri="https://127.0.0.1/callback")
        token = requests.post(
            f"{fake.auth_base_url}/api/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://127.0.0.1/callback",
            },
            auth=(fake.client_id, fake.client_secret),
            verify=ca,
            timeout=10,
        ).json()["access_token"]
        profile = requests.get(
            f"{fake.api_base_url}/me",
            headers={"Authorization": f"Bearer {token}"},
            verify=ca,
            timeout=10,
        ).json()
        picture = requests.get(profile["images"][0]["url"], verify=ca, timeout=10)

    assert fake.base_url.startswith("https://localhost:")
    assert profile["images"][0]["url"].startswith(fake.base_url)
    assert picture.status_code == 200
