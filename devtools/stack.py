"""The whole of Euterpe on this machine, the way Heroku runs it, for scripts and browser tests.

    with Stack(tls=True) as stack:          # or Stack(latency=0.1, listeners=100)
        browser = stack.login("alice")      # a requests.Session behind "the router"
        browser.get(stack.url("/"))
        stack.fake_calls(path="/v1/me")     # the fake Spotify's counters

    python -m devtools.stack [--tls] [--latency 0.1] [--listeners N]   (Ctrl-C stops)

What starts, in order (everything is stopped and removed again by ``stop()``):

1. The fake Spotify (``python -m devtools.fakespotify``) as its own process on a
   free port of ``localhost`` -- a different *site* from Euterpe's
   ``127.0.0.1``, so a SameSite mistake shows in a browser. With ``tls`` it
   speaks HTTPS too, or Chromium would block its images as mixed content.
2. A throwaway database (``test_euterpe_stack_<random>_<pid>``, see
   ``devtools.databases``) on the server that ``devtools.localdb`` finds, with
   the neighbour app's tables in ``public`` first (``devtools.neighbour``), then
   the Procfile's release phase (migrate, dbcheck) and ``collectstatic``.
3. gunicorn started with the Procfile's ``web:`` command, production settings
   (DEBUG off, generated secrets) and ``PORT``; with ``tls`` it also gets
   ``--certfile/--keyfile`` of a throwaway certificate for ``localhost`` and
   ``127.0.0.1``, signed by a throwaway CA (``devtools.certificates``) that
   gunicorn's own ``requests`` trust through ``REQUESTS_CA_BUNDLE``.

4. The Procfile's ``worker:`` line (``sweep_imports``, then ``db_worker``) with
   gunicorn's environment, its output in ``worker_log``: history imports run there.

Without ``tls``, gunicorn speaks plain HTTP as a dyno does behind Heroku's
router; a ``RouterSession`` talks to ``https://127.0.0.1:PORT`` (the public
origin) through ``devtools.router``, which plays the router: the request goes
over plain HTTP with ``X-Forwarded-Proto: https`` and ``X-Forwarded-For``, and
the session keeps Secure cookies.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from devtools import databases
from devtools.certificates import make_certificate
from devtools.processes import BASE_DIR, settings_in_fresh_process
from devtools.router import RouterAdapter

APP_HOST = "127.0.0.1"
FAKE_HOST = "localhost"
START_TIMEOUT = 60


class StackError(RuntimeError):
    """A piece of the stack did not start; the message says which and shows its log."""


# --- helpers -------------------------------------------------------------------


def free_port(host: str = APP_HOST) -> int:
    """A port nobody listens on right now (another process could still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def procfile(path: Path = BASE_DIR / "Procfile") -> dict[str, str]:
    """The Procfile's process types: ``{"web": "gunicorn ...", "release": "..."}``."""
    types = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            types[name.strip()] = command.strip()
    return types


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


# --- the browser behind the router -----------------------------------------------


# How often login() repeats a callback Euterpe answered "busy, try again".
BUSY_RETRIES = 5


class RouterSession(requests.Session):
    """A browser's view of Euterpe: ``https://127.0.0.1:PORT``, whatever gunicorn speaks.

    ``login(listener)`` goes through the real flow: the login page's CSRF form,
    social-auth's begin URL, the fake Spotify's /authorize, back to /callback.
    """

    def __init__(self, stack: Stack, client_ip: str = "198.51.100.7"):
        super().__init__()
        self.stack = stack
        self.client_ip = client_ip
        self.verify = str(stack.ca_path) if stack.ca_path else True
        # Otherwise a REQUESTS_CA_BUNDLE in the environment replaces the stack's CA.
        self.trust_env = False
        self.headers["User-Agent"] = "Euterpe-stack-browser/1.0"
        if not stack.tls:
            self.mount(
                stack.base_url,
                RouterAdapter(stack.base_url, stack.backend_url, client_ip, pool_maxsize=32),
            )
        else:
            # Over TLS there is no router in front: the client address is the real one.
            self.mount(stack.base_url, HTTPAdapter(pool_maxsize=32))

    def login(self, listener: str, *, decline: bool = False) -> requests.Response:
        """Log ``listener`` in (or decline on Spotify's page); returns the final response."""
        stack = self.stack
        page = self.get(stack.url("/login"), timeout=30)
        page.raise_for_status()
        action, token = _login_form(page.text)
        begin = self.post(
            urljoin(page.url, action),
            data={"csrfmiddlewaretoken": token},
            headers={"Origin": stack.base_url, "Referer": stack.url("/login")},
            allow_redirects=False,
            timeout=30,
        )
        authorize = begin.headers.get("Location", "")
        if begin.status_code != 302 or not authorize.startswith(stack.fake_url):
            raise StackError(
                f"login: expected a redirect to the fake Spotify, got {begin.status_code} "
                f"to {authorize!r}"
            )
        consent = "decline=1" if decline else f"listener={listener}"
        approved = self.get(f"{authorize}&{consent}", allow_redirects=False, timeout=30)
        callback = approved.headers.get("Location", "")
        if approved.status_code != 302 or not callback.startswith(stack.base_url):
            raise StackError(
                f"login: the fake's /authorize answered {approved.status_code} to {callback!r}"
            )
        # Euterpe answers 503 "busy, try again" (Retry-After) while every thread that
        # may wait on Spotify is waiting: press Try again, as a listener would.
        for _ in range(BUSY_RETRIES):
            done = self.get(callback, timeout=30)
            if done.status_code != 503 or "Retry-After" not in done.headers:
                return done
            time.sleep(min(float(done.headers["Retry-After"]), 5.0))
            # gunicorn has closed the idle keep-alive connection by now (or is about to).
            self.close()
        return done


def _login_form(html: str) -> tuple[str, str]:
    """The action and CSRF token of the login page's POST form."""
    for form in re.finditer(r"<form\b([^>]*)>(.*?)</form>", html, re.S | re.I):
        attributes, body = form.groups()
        if not re.search(r"method=[\"']?post", attributes, re.I):
            continue
        token = re.search(
            r"name=[\"']csrfmiddlewaretoken[\"'][^>]*value=[\"']([^\"']+)", body
        ) or re.search(r"value=[\"']([^\"']+)[\"'][^>]*name=[\"']csrfmiddlewaretoken", body)
        action = re.search(r"action=[\"']([^\"']*)", attributes)
        if token and action:
            return unescape(action.group(1)), token.group(1)
    raise StackError("login: no POST form with a CSRF token on /login")


# --- the stack ---------------------------------------------------------------------


class Stack:
    """Fake Spotify + throwaway database + gunicorn as in the Procfile. See the module doc.

    Attributes once started: ``base_url`` (Euterpe's public origin, always
    ``https://127.0.0.1:PORT``), ``backend_url`` (what gunicorn really speaks),
    ``fake_url``, ``database_url``, ``database_name``, ``env`` (gunicorn's
    environment), ``ca_path`` (with ``tls``), ``gunicorn_log``, ``gunicorn_pid``.
    """

    def __init__(
        self,
        *,
        tls: bool = False,
        latency: float = 0.0,
        listeners: int = 0,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ):
        self.tls = tls
        self.latency = latency
        self.listeners = listeners
        self.extra_env = dict(env or {})
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="euterpe-stack-"))
        self.ca_path = self.cert_path = self.key_path = None
        self.fake_url = self.base_url = self.backend_url = ""
        self.database_url = self.database_name = ""
        self.env: dict[str, str] = {}
        self.gunicorn_log = self.workdir / "gunicorn.log"
        self.worker_log = self.workdir / "worker.log"
        self.fake_log = self.workdir / "fakespotify.log"
        self._fake: subprocess.Popen | None = None
        self._fake_drain: threading.Thread | None = None
        self._gunicorn: subprocess.Popen | None = None
        self._worker: subprocess.Popen | None = None
        self._server_url = ""
        self._private_server = None
        self._stopped = threading.Event()

    # -- lifecycle --

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> Stack:
        atexit.register(self.stop)
        try:
            if self.tls:
                self.ca_path, self.cert_path, self.key_path = make_certificate(self.workdir / "tls")
            self._start_fake()
            self._create_database()
            self._start_gunicorn()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop gunicorn and the fake (whole process groups), drop the database."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for process in (self._gunicorn, self._worker, self._fake):
            _stop_group(process)
        if self._fake_drain is not None:
            self._fake_drain.join(5)  # it ends at EOF, now that the fake has exited
        if self._fake is not None and self._fake.stdout is not None:
            self._fake.stdout.close()
        if self.database_name:
            with contextlib.suppress(Exception):
                self._drop_database(self.database_name)
        if self._private_server is not None:
            self._private_server.cleanup()
        if self._own_workdir:
            for path in sorted(self.workdir.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            self.workdir.rmdir()

    @property
    def gunicorn_pid(self) -> int | None:
        return self._gunicorn.pid if self._gunicorn else None

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    # -- the fake Spotify --

    def _start_fake(self) -> None:
        command = [
            sys.executable,
            "-m",
            "devtools.fakespotify",
            "--host",
            FAKE_HOST,
            "--port",
            "0",
            "--latency",
            str(self.latency),
        ]
        if self.listeners:
            command += ["--listeners", str(self.listeners)]
        if self.tls:
            command += ["--certfile", str(self.cert_path), "--keyfile", str(self.key_path)]
        with self.fake_log.open("w") as log:
            self._fake = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        line = _read_line(self._fake, START_TIMEOUT)
        match = re.search(r"listening on (\S+)", line or "")
        if not match:
            raise StackError(f"the fake Spotify did not start ({line!r}):\n{_tail(self.fake_log)}")
        self.fake_url = match.group(1).rstrip("/")
        # Keep draining its stdout so it never blocks on a full pipe.
        self._fake_drain = threading.Thread(target=self._fake.stdout.read, daemon=True)
        self._fake_drain.start()

    def fake(self, name: str, payload: dict | None = None, *, method: str = "POST") -> dict:
        """Call one of the fake's ``/_control/<name>`` endpoints; returns its JSON."""
        url = f"{self.fake_url}/_control/{name}"
        verify = str(self.ca_path) if self.ca_path else True
        if method == "GET":
            response = requests.get(url, params=payload, verify=verify, timeout=10)
        else:
            response = requests.post(url, json=payload or {}, verify=verify, timeout=10)
        response.raise_for_status()
        return response.json()

    def fake_calls(self, path: str | None = None, listener: str | None = None) -> int:
        params = {k: v for k, v in {"path": path, "listener": listener}.items() if v}
        return self.fake("calls", params, method="GET")["calls"]

    def django_settings(self, *names: str) -> dict:
        """Euterpe's settings ``names`` as gunicorn's environment makes them (JSON values)."""
        return settings_in_fresh_process(self.env, *names)

    # -- the database --

    def _admin(self, dbname: str | None = None):
        import psycopg

        url = self._server_url
        if dbname:
            url = urlsplit(url)._replace(path=f"/{dbname}").geturl()
        return psycopg.connect(url, autocommit=True, connect_timeout=10)

    def _create_database(self) -> None:
        from devtools import localdb

        self._server_url, self._private_server = localdb.resolve()
        name = databases.unique_name(f"{databases.DATABASE_PREFIX}_stack")
        with self._admin() as server:
            databases.drop_abandoned(server)
        databases.create_with_neighbour(name, self._admin)
        self.database_name = name
        self.database_url = urlsplit(self._server_url)._replace(path=f"/{name}").geturl()

    def _drop_database(self, name: str) -> None:
        with self._admin() as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- gunicorn --

    def _start_gunicorn(self) -> None:
        from cryptography.fernet import Fernet

        port = free_port()
        self.base_url = f"https://{APP_HOST}:{port}"
        self.backend_url = self.base_url if self.tls else f"http://{APP_HOST}:{port}"
        client_id, client_secret = "euterpe-demo-client", "euterpe-demo-secret"
        env = {
            **os.environ,
            # The venv's python and gunicorn first, as on the dyno's PATH.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PORT": str(port),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": self.database_url,
            "ALLOWED_HOSTS": f"{APP_HOST},localhost",
            "OPS_TOKEN": secrets.token_urlsafe(24),
            "SPOTIFY_CLIENT_ID": client_id,
            "SPOTIFY_CLIENT_SECRET": client_secret,
            "SPOTIFY_REDIRECT_URI": f"{self.base_url}/callback",
            "SPOTIFY_AUTH_BASE_URL": self.fake_url,
            "SPOTIFY_API_BASE_URL": f"{self.fake_url}/v1",
            "SPOTIFY_DEMO": "true",
            "PYTHONUNBUFFERED": "1",
            # Its own collected static files: stacks run side by side.
            "STATIC_ROOT": str(self.workdir / "staticfiles"),
            # Limits stay on (their cache round trips are part of what is measured)
            # but high enough for scripted logins from one address; env= overrides.
            "RATELIMIT_LOGIN": "10000/m",
            "RATELIMIT_CALLBACK": "10000/m",
            "RATELIMIT_DB_CHECK": "10000/m",
            "RATELIMIT_ADMIN_LOGIN": "10000/m",
        }
        for name in ("DJANGO_SETTINGS_MODULE", "TEST_DATABASE_URL", "REDIS_URL"):
            env.pop(name, None)
        if self.ca_path:
            env["REQUESTS_CA_BUNDLE"] = str(self.ca_path)
        env.update(self.extra_env)
        self.env = env

        processes = procfile()
        release = processes.get("release")
        if release:
            self._run(["sh", "-c", release], "the Procfile's release phase")
        self._run([sys.executable, "manage.py", "collectstatic", "--noinput"], "collectstatic")

        command = shlex.split(processes["web"])
        if self.tls:
            command += ["--certfile", str(self.cert_path), "--keyfile", str(self.key_path)]
        with self.gunicorn_log.open("w") as log:
            self._gunicorn = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._wait_for_health()
        self._start_worker(processes.get("worker"))

    def _start_worker(self, command: str | None) -> None:
        """The Procfile's ``worker:`` line (sweep_imports, then db_worker), as a dyno runs it."""
        if not command:
            return
        with self.worker_log.open("w") as log:
            self._worker = subprocess.Popen(
                ["sh", "-c", command],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _run(self, command: list[str], what: str) -> None:
        result = subprocess.run(
            command, cwd=BASE_DIR, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise StackError(f"{what} failed ({result.returncode}):\n{output}")

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        verify = str(self.ca_path) if self.ca_path else True
        while time.monotonic() < deadline:
            if self._gunicorn.poll() is not None:
                raise StackError(f"gunicorn exited:\n{_tail(self.gunicorn_log)}")
            try:
                response = requests.get(f"{self.backend_url}/health", verify=verify, timeout=5)
                if response.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise StackError(f"gunicorn did not answer /health:\n{_tail(self.gunicorn_log)}")

    # -- browsers --

    def browser(self, client_ip: str = "198.51.100.7") -> RouterSession:
        """A fresh cookie jar talking to Euterpe as a browser behind the router would."""
        return RouterSession(self, client_ip=client_ip)

    def login(self, listener: str, client_ip: str = "198.51.100.7") -> RouterSession:
        """A browser with ``listener`` logged in through the real OAuth flow."""
        session = self.browser(client_ip)
        final = session.login(listener)
        if final.status_code != 200 or urlsplit(final.url).path != "/":
            raise StackError(f"login as {listener} ended at {final.url} with {final.status_code}")
        return session


def _read_line(process: subprocess.Popen, timeout: float) -> str | None:
    """The first line the process prints, or None if it exits or stays silent."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()))
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    return result[0] if result else None


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started it dies, even by SIGKILL.

    The children run in their own process group (so ``stop()`` can end all of
    gunicorn's workers), which also shields them from the terminal's Ctrl-C;
    without this a killed test run would leave gunicorn serving.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop_group(process: subprocess.Popen | None, grace: float = 25) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tls", action="store_true", help="gunicorn and the fake over HTTPS")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per Spotify call")
    parser.add_argument("--listeners", type=int, default=0, help="generate N more listeners")
    args = parser.parse_args(argv)
    # Both stop it cleanly, even when started in the background (where a shell
    # leaves SIGINT ignored).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with Stack(tls=args.tls, latency=args.latency, listeners=args.listeners) as stack:
        print(f"Euterpe:      {stack.base_url}/  (gunicorn speaks {stack.backend_url})")
        print(f"Fake Spotify: {stack.fake_url}")
        print(f"Database:     {stack.database_name}")
        print(f"Logs:         {stack.gunicorn_log}, {stack.worker_log}")
        if stack.ca_path:
            print(f"CA:           {stack.ca_path}")
        print("Ctrl-C stops.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while stack._gunicorn.poll() is None:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
