"""Where a warm dashboard view's time goes, measured inside one process.

    python -m bench.warm_profile --cookie 'sessionid=...' [--views 300]

Run by ``bench.dashboard`` in a fresh process with the stack's environment
(production settings, the stack's database, the listener's cache already
filled), so it reads the same rows gunicorn does. Each view goes through
Django's WSGI handler, as gunicorn calls it, one at a time on one thread; the
parts below are timed by wrapping the functions that do them (this process
only), and the rest of the handler's time is "middleware and the rest":

- queries: every SQL statement, round trip to PostgreSQL included;
- cached entries: checking the signatures and decoding the signed JSON;
- decompression: the sections' zlib-compressed HTML;
- "… ago" markers: filling in the recently played times;
- templates: rendering dashboard.html around the sections;
- gzip: GZipMiddleware compressing the page;
- access log: gunicorn's access-log line for the view (its logger, the
  Procfile's format, written to a file), timed on its own.

Prints one JSON object: the mean milliseconds of each part per view, the
handler's mean, queries per view and the bytes of the page.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import runpy
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from types import SimpleNamespace

PARTS = (
    "queries",
    "cached entries",
    "decompression",
    "markers",
    "templates",
    "gzip",
)


class Timers:
    def __init__(self):
        self.spent = defaultdict(float)
        self.calls = defaultdict(int)
        self.paused = 0  # nesting: a wrapped part inside another counts once

    def wrap(self, part, function):
        def timed(*args, **kwargs):
            if self.paused:
                return function(*args, **kwargs)
            self.paused += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[part] += time.perf_counter() - started
                self.calls[part] += 1
                self.paused -= 1

        return timed

    def query(self, execute, sql, params, many, context):
        if "spotifytoken" in sql:
            self.calls["token queries"] += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            # Queries may run inside a wrapped part (a cache read): counted as queries.
            took = time.perf_counter() - started
            self.spent["queries"] += took
            self.calls["queries"] += 1
            self.spent["nested"] += took if self.paused else 0.0


def _patch(stack: ExitStack, module, name: str, replacement) -> None:
    original = getattr(module, name)
    setattr(module, name, replacement)
    stack.callback(setattr, module, name, original)


def profile(cookie: str, views: int, path: str = "/") -> dict:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.middleware import gzip as gzip_middleware

    from euterpe_site import cache_backend
    from spotify_stats import cache as section_cache
    from spotify_stats import dashboard
    from spotify_stats import views as dashboard_views

    handler = WSGIHandler()
    timers = Timers()
    host = os.environ.get("ALLOWED_HOSTS", "127.0.0.1").split(",")[0]

    def environ():
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "RAW_URI": path,
            "QUERY_STRING": "",
            "SERVER_NAME": host,
            "SERVER_PORT": "443",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": host,
            "HTTP_COOKIE": cookie,
            "HTTP_ACCEPT_ENCODING": "gzip, deflate",
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_X_FORWARDED_FOR": "198.51.100.7",
            "HTTP_USER_AGENT": "Euterpe-bench/1.0",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }

    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    def view():
        body = b"".join(handler(environ(), start_response))
        if not answer["status"].startswith("200"):
            raise SystemExit(f"the dashboard answered {answer['status']}")
        return body

    for _ in range(20):  # imports, compiled templates, the pool's connection
        view()
    with ExitStack() as patches:
        _patch(patches, cache_backend, "loads", timers.wrap("cached entries", cache_backend.loads))
        _patch(patches, section_cache, "unpack", timers.wrap("decompression", section_cache.unpack))
        _patch(patches, dashboard, "fill_in_ago", timers.wrap("markers", dashboard.fill_in_ago))
        _patch(patches, dashboard_views, "render", timers.wrap("templates", dashboard_views.render))
        _patch(
            patches,
            gzip_middleware,
            "compress_string",
            timers.wrap("gzip", gzip_middleware.compress_string),
        )
        patches.enter_context(connection.execute_wrapper(timers.query))
        started = time.perf_counter()
        for _ in range(views):
            body = view()
        total = time.perf_counter() - started

    access_log = _access_log_time(environ(), answer, len(body), views)
    spent = {part: timers.spent[part] for part in PARTS}
    # A query made inside a timed part counted twice: once is enough.
    rest = total - sum(spent.values()) + timers.spent["nested"]
    per_view = {part: seconds / views * 1000 for part, seconds in spent.items()}
    per_view["middleware and the rest"] = rest / views * 1000
    return {
        "views": views,
        "handler_ms": total / views * 1000,
        "parts_ms": per_view,
        "access_log_ms": access_log * 1000,
        "queries_per_view": timers.calls["queries"] / views,
        "token_queries_per_view": timers.calls["token queries"] / views,
        "body_bytes": len(body),
        "content_encoding": dict(answer["headers"]).get("Content-Encoding", "identity"),
    }


def _access_log_time(environ: dict, answer: dict, sent: int, views: int) -> float:
    """Seconds gunicorn's access log takes for one such view (Procfile's format, a file)."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from devtools.processes import BASE_DIR

    config = Config()
    # Read as gunicorn reads it.
    namespace = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    with tempfile.TemporaryDirectory(prefix="euterpe-accesslog-") as folder:
        config.set("accesslog", os.path.join(folder, "access.log"))
        config.set("access_log_format", namespace["access_log_format"])
        logger = Logger(config)
        response = SimpleNamespace(status=answer["status"], sent=sent, headers=answer["headers"])
        request = SimpleNamespace(
            headers=[(k[5:].replace("_", "-"), v) for k, v in environ.items() if k[:5] == "HTTP_"]
        )
        took = datetime.timedelta(milliseconds=3)
        started = time.perf_counter()
        for _ in range(views):
            logger.access(response, request, environ, took)
        elapsed = time.perf_counter() - started
        for handler in logger.access_log.handlers:
            handler.close()
    return elapsed / views


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_profile", description=__doc__)
    parser.add_argument("--cookie", required=True, help="the logged-in listener's Cookie header")
    parser.add_argument("--views", type=int, default=300)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "euterpe_site.settings")
    print(json.dumps(profile(args.cookie, args.views)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
