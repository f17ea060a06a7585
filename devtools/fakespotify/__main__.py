"""Run the fake Spotify in the foreground: ``python -m devtools.fakespotify --port 8090``."""

from __future__ import annotations

import argparse
import signal
import ssl
import sys

from devtools.fakespotify.accounts import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from devtools.fakespotify.server import FakeSpotify


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fakespotify",
        description="Serve a fake Spotify (accounts service and Web API) with demo listeners.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    parser.add_argument("--listeners", type=int, default=0, help="generate N more listeners")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help="a registered redirect URI (repeatable); default: accept any http(s) URI",
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument(
        "--no-rotation",
        dest="rotation",
        action="store_false",
        help="refreshing keeps the old refresh token and returns no new one",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    return args


def _ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if not certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fake = FakeSpotify(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=args.redirect_uris,
        host=args.host,
        port=args.port,
        latency=args.latency,
        rotate_refresh_tokens=args.rotation,
        verbose=args.verbose,
        ssl_context=_ssl_context(args.certfile, args.keyfile),
    )
    if args.listeners:
        fake.add_listeners(args.listeners)
    fake.start()
    # A plain `kill` should stop it as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Scripts wait for this line, so it must not sit in a buffer.
    print(f"Fake Spotify listening on {fake.base_url}", flush=True)
    try:
        fake.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
