"""`make bench`: the dashboard under gunicorn as the Procfile runs it, against a slow Spotify.

    python -m devtools.localdb run -- python -m bench.dashboard [--latency 0.1] [--seconds 10]

One run measures, through ``devtools.stack`` (production settings, plain HTTP
behind a simulated Heroku router, the fake Spotify answering every call after
``--latency`` seconds):

- cold-page latency (p50/p95), each view with an empty cache, for listeners
  with at most 50 playlists (one round trip to Spotify on the critical path)
  and for ``collector`` with 120 (two: the first playlist page tells the total);
- warm-page throughput and latency against ``/health``, both requested by the
  same logged-in listener from the same gunicorn with the same client threads
  (the session and user lookups of /health are the floor of any page here);
- Spotify calls per view, cold and warm (the fake's counters);
- the bytes of the biggest dashboard (``collector``) on the wire, gzip-compressed;
- where a warm view's time goes, in one process (``bench.warm_profile``): queries
  (and how many), the cache entries' signatures, decompression, the "… ago"
  markers, templates, gzip, middleware and the rest, gunicorn's access log;
- PostgreSQL connections with ``application_name=euterpe`` on the bench's
  database, sampled during the load, against the connection budget.

With ``--listeners N`` (``make bench BENCH_LISTENERS=10000``) larger than the
listeners logged in, it then fills the database with N listeners
(``bench.populate``: users, social links, encrypted tokens, sessions, cached
sections, refused logins, and expired rows) and measures again: warm dashboard
and ``/health`` (same rounds), login + first page, each against the same run's
figures before the fill; ``purge_expired`` on the expired rows while listeners
log in; and the admin's listener list (token-status columns) as a superuser.

It prints a table, replaces the "Dashboard benchmark" section of
docs/benchmarks.md with it (machine and date included) and exits 1 if a
target is missed. Loopback only; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench import cache_writes, report
from bench.report import clear_cache, ms, percentile
from devtools.stack import BASE_DIR, Stack

SECTION = "## Dashboard benchmark"
SMALL_LISTENERS = 20  # generated listeners, 0-30 playlists each, for the cold views
LOGINS = 10  # first logins timed before the fill, as many after, 3 x as many during the purge
BIG_LISTENER = "collector"  # 120 playlists: three pages of 50
WARM_LISTENER = "alice"
MAX_REQUESTS_PER_PHASE = 50_000
ROUNDS = 3  # /health then the warm dashboard, this many times; medians reported
MAX_COLLECTOR_BYTES = 18 * 1024  # the biggest dashboard on the wire
FLAT = 0.10  # with many listeners, within 10% of the same run's figures before the fill
ADMIN_LIST_MS = 300


@dataclass
class Sample:
    """Latencies (seconds) and failures of one measured phase."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server: list[float] = field(default_factory=list)  # gunicorn's own request times
    cpu: float = 0.0  # CPU seconds of gunicorn's workers and Euterpe's PostgreSQL backends

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)

    def add(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed
        self.cpu += other.cpu

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / len(self.latencies) if self.latencies else float("nan")

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def _dashboard_ok(response, name: str) -> str | None:
    """None when ``response`` is the listener's dashboard, else what went wrong."""
    if response.status_code != 200:
        return f"{response.status_code} on {response.url}"
    if not response.url.endswith("/") or name not in response.text:
        return f"not {name}'s dashboard: {response.url}"
    return None


class ServerTimes:
    """gunicorn's own time for dashboard requests (its access log's last field), per phase."""

    LINE = re.compile(r'"GET /(?:\?\S*)? HTTP/1\.1" \d+ \S+ (\d+)ms')

    def __init__(self, stack: Stack):
        self.log = stack.gunicorn_log
        self.offset = self.log.stat().st_size

    def collect(self) -> list[float]:
        with self.log.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        return [int(match.group(1)) / 1000 for match in self.LINE.finditer(text)]


def warm_up(stack: Stack, login, views: int = 8) -> None:
    """Views on fresh connections, so every worker has imported and compiled what pages need.

    "Cold" below means an empty cache, not a process that never rendered a page.
    """
    for number in range(views):
        if number % 2 == 0:
            clear_cache(stack)
        browser = stack.browser(client_ip=login.client_ip)
        browser.cookies.update(login.cookies)
        browser.get(stack.url("/"), timeout=30)
        browser.close()


def cold_views(stack: Stack, sessions: list[tuple[str, object]], repeat: int) -> tuple:
    """Each listener's dashboard with an empty cache, one at a time."""
    sample = Sample()
    calls = 0
    times = ServerTimes(stack)
    for _ in range(repeat):
        for name, browser in sessions:
            clear_cache(stack)
            before = stack.fake_calls()
            started = time.perf_counter()
            response = browser.get(stack.url("/"), timeout=30)
            sample.latencies.append(time.perf_counter() - started)
            calls += stack.fake_calls() - before
            if problem := _dashboard_ok(response, name):
                sample.errors.append(problem)
    views = len(sample.latencies)
    # gunicorn logs a request just after answering it: give the last line a moment,
    # and keep only this phase's own lines (a warm-up line may land late).
    time.sleep(0.3)
    sample.server = times.collect()[-views:]
    return sample, calls / views if views else float("nan")


CRITICAL_PATH = (
    "/me",
    "/me/top/tracks?limit=50&time_range=medium_term",
    "/me/top/artists?limit=50&time_range=medium_term",
    "/me/playlists?limit=50",
    "/me/player/recently-played?limit=50",
)


def round_trips(stack: Stack, listener: str, bursts: int = 20) -> list[float]:
    """The page's first round trip made straight to the fake: its five calls at once.

    Shows how much of a cold page the fake itself takes beyond its fixed latency
    (generating 50-item answers, new connections), so a miss can be told apart.
    """
    redirect_uri = stack.env["SPOTIFY_REDIRECT_URI"]
    code = stack.fake("authorize_code", {"listener": listener, "redirect_uri": redirect_uri})
    token = requests.post(
        f"{stack.fake_url}/api/token",
        data={
            "grant_type": "authorization_code",
            "code": code["code"],
            "redirect_uri": redirect_uri,
        },
        auth=(stack.env["SPOTIFY_CLIENT_ID"], stack.env["SPOTIFY_CLIENT_SECRET"]),
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def call(path: str) -> None:
        requests.get(f"{stack.fake_url}/v1{path}", headers=headers, timeout=10)

    times = []
    with ThreadPoolExecutor(len(CRITICAL_PATH)) as pool:
        for _ in range(bursts):
            started = time.perf_counter()
            list(pool.map(call, CRITICAL_PATH))
            times.append(time.perf_counter() - started)
    return times


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


def server_cpu(stack: Stack) -> dict[int, float]:
    """CPU seconds so far of each process serving Euterpe: gunicorn's workers and the
    PostgreSQL backends of Euterpe's connections (``application_name=euterpe``).

    The work a request costs the machine, whatever else the machine is doing: the
    same on a quiet and a busy machine, unlike requests per second.
    """
    import psycopg

    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == stack.gunicorn_pid:
            pids.append(int(stat.parent.name))
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        pids += [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE application_name = 'euterpe' AND datname = current_database()"
            )
        ]
    return {pid: cpu for pid in pids if (cpu := _cpu_seconds(pid)) is not None}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two ``server_cpu`` snapshots (a process that ended meanwhile
    is missed; one that started counts from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def hammer(stack: Stack, login, path: str, check, threads: int, seconds: float) -> Sample:
    """``threads`` clients with ``login``'s cookies GET ``path`` for ``seconds``."""
    sample = Sample()
    cpu_before = server_cpu(stack)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    budget = [MAX_REQUESTS_PER_PHASE]

    def client() -> None:
        browser = stack.browser(client_ip=login.client_ip)
        browser.cookies.update(login.cookies)
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            started = time.perf_counter()
            try:
                response = browser.get(stack.url(path), timeout=30)
                problem = check(response)
            except Exception as error:  # any failure counts as an error
                problem = f"{type(error).__name__}: {error}"
            took = time.perf_counter() - started
            with lock:
                sample.latencies.append(took)
                if problem:
                    sample.errors.append(problem)

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 60)
    sample.elapsed = time.perf_counter() - started
    sample.cpu = cpu_used(cpu_before, server_cpu(stack))
    return sample


def _ms1(seconds: float) -> str:
    """Milliseconds with one decimal: a cache write takes a few."""
    return f"{seconds * 1000:.1f} ms"


def connection_budget(stack: Stack) -> dict:
    """The budget arithmetic, from Euterpe's own settings in the stack's environment."""
    return stack.django_settings(*report.BUDGET_SETTINGS)


def machine_and_load(load_at_start: tuple[float, float, float]) -> str:
    # Other work on the machine shows in the numbers; say how busy it was.
    start, end = (", ".join(f"{v:.1f}" for v in load) for load in (load_at_start, os.getloadavg()))
    return f"{report.machine()}; load average {start} at the start, {end} at the end"


def wire_bytes(stack: Stack, login, path: str = "/") -> tuple[int, int, str]:
    """One view as a browser gets it: (bytes on the wire, bytes of HTML, Content-Encoding)."""
    browser = stack.browser(client_ip=login.client_ip)
    browser.cookies.update(login.cookies)
    response = browser.get(
        stack.url(path), headers={"Accept-Encoding": "gzip, deflate"}, stream=True, timeout=30
    )
    raw = response.raw.read(decode_content=False)
    encoding = response.headers.get("Content-Encoding", "identity")
    browser.close()
    html = gzip.decompress(raw) if encoding == "gzip" else raw
    return len(raw), len(html), encoding


@dataclass
class Rounds:
    """``ROUNDS`` alternating phases of /health and the warm dashboard."""

    health: list[Sample] = field(default_factory=list)
    warm: list[Sample] = field(default_factory=list)
    spotify_calls: int = 0

    @property
    def health_rps(self) -> float:
        return statistics.median(s.throughput for s in self.health)

    @property
    def warm_rps(self) -> float:
        return statistics.median(s.throughput for s in self.warm)

    @property
    def ratios(self) -> list[float]:
        return [w.throughput / h.throughput for h, w in zip(self.health, self.warm, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def cpu_ratios(self) -> list[float]:
        """/health's server CPU per request over the warm page's, per round: the ratio
        of their throughputs where the server's CPU is all that limits them."""
        return [
            h.cpu_per_request / w.cpu_per_request
            for h, w in zip(self.health, self.warm, strict=True)
        ]

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.cpu_ratios)

    def cpu_ms(self, side: str) -> float:
        return statistics.median(s.cpu_per_request for s in getattr(self, side)) * 1000

    def errors(self) -> list[str]:
        return [e for sample in (*self.health, *self.warm) for e in sample.errors]

    def all(self, side: str) -> Sample:
        total = Sample()
        for sample in getattr(self, side):
            total.add(sample)
        return total

    def describe(self, side: str) -> str:
        rounds = ", ".join(f"{s.throughput:.0f}" for s in getattr(self, side))
        total = self.all(side)
        return (
            f"{getattr(self, f'{side}_rps'):.0f} req/s (rounds: {rounds}), "
            f"p50 {ms(total.percentile(50))}, p95 {ms(total.percentile(95))}, "
            f"server CPU {self.cpu_ms(side):.2f} ms a request"
        )


def warm_rounds(stack: Stack, login, name: str, threads: int, seconds: float) -> Rounds:
    """/health then the dashboard, each for ``seconds``, ``ROUNDS`` times, same listener."""

    def health_ok(response):
        if response.status_code != 200:
            return f"{response.status_code} on /health"
        if response.json().get("user") != name:
            return "/health did not see the logged-in listener"
        return None

    rounds = Rounds()
    # Short alternating rounds, so that a change in what else the machine is
    # doing weighs on both sides alike.
    for _ in range(ROUNDS):
        rounds.health.append(hammer(stack, login, "/health", health_ok, threads, seconds))
        before = stack.fake_calls()
        rounds.warm.append(
            hammer(
                stack, login, "/", lambda response: _dashboard_ok(response, name), threads, seconds
            )
        )
        rounds.spotify_calls += stack.fake_calls() - before
    return rounds


def warm_profile(stack: Stack, login, views: int = 300) -> dict:
    """``bench.warm_profile`` for ``login``'s (warm) dashboard, in a fresh process."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in login.cookies)
    result = subprocess.run(
        [sys.executable, "-m", "bench.warm_profile", "--cookie", cookie, "--views", str(views)],
        env={**stack.env, "DJANGO_SETTINGS_MODULE": "euterpe_site.settings"},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench.warm_profile failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def describe_profile(profile: dict) -> str:
    parts = ", ".join(f"{part} {value:.2f}" for part, value in profile["parts_ms"].items())
    return (
        f"{profile['handler_ms']:.2f} ms in Django's handler ({parts}); "
        f"gunicorn's access log {profile['access_log_ms']:.3f} ms; "
        f"{profile['queries_per_view']:g} queries per view, "
        f"{profile['token_queries_per_view']:g} of them on tokens"
    )


def login_times(stack: Stack, listeners: list[str]) -> tuple[list[float], list[str]]:
    """Each listener's first login through the OAuth flow, ending on their (cold) dashboard."""
    times, errors = [], []
    for number, listener in enumerate(listeners):
        started = time.perf_counter()
        try:
            browser = stack.login(listener, client_ip=f"203.0.113.{number % 250 + 1}")
            browser.close()
        except Exception as error:  # any failure counts as an error
            errors.append(f"login of {listener}: {type(error).__name__}: {error}")
            continue
        times.append(time.perf_counter() - started)
    return times, errors


def populate(stack: Stack, listeners: int, template_user_id: int) -> tuple[dict, str]:
    """``bench.populate`` in a fresh process; its report and the admin's password."""
    password = secrets.token_urlsafe(16)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.populate",
            "--listeners",
            str(listeners),
            "--template-user-id",
            str(template_user_id),
            "--admin-password",
            password,
        ],
        env={**stack.env, "DJANGO_SETTINGS_MODULE": "euterpe_site.settings"},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench.populate failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), password


def purge_during_logins(stack: Stack, listeners: list[str]) -> dict:
    """``manage.py purge_expired`` while listeners log in one after another."""
    stop = threading.Event()
    logins: list[tuple[float, float]] = []  # (start, end) monotonic
    errors: list[str] = []

    def log_in_loop():
        for number, listener in enumerate(listeners):
            if stop.is_set():
                return
            started = time.monotonic()
            try:
                stack.login(listener, client_ip=f"192.0.2.{number % 250 + 1}").close()
            except Exception as error:  # any failure counts as an error
                errors.append(f"login of {listener}: {type(error).__name__}: {error}")
                continue
            logins.append((started, time.monotonic()))

    thread = threading.Thread(target=log_in_loop, daemon=True)
    thread.start()
    time.sleep(1.0)  # logins under way before the purge starts
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "purge_expired", "--json"],
        env=stack.env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    ended = time.monotonic()
    time.sleep(1.0)
    stop.set()
    thread.join(120)
    if result.returncode != 0:
        raise SystemExit(f"purge_expired failed:\n{result.stderr[-3000:]}")
    during = [end - begin for begin, end in logins if begin < ended and end > started]
    return {
        "seconds": ended - started,
        "counts": json.loads(result.stdout.strip().splitlines()[-1]),
        "during": during,
        "all": [end - begin for begin, end in logins],
        "errors": errors,
    }


def admin_list_times(stack: Stack, password: str, views: int = 10) -> tuple[list[float], int]:
    """The admin's listener list (token-status columns), as ``bench-admin``; its rows."""
    browser = stack.browser(client_ip="192.0.2.250")
    page = browser.get(stack.url("/admin/login/?next=/admin/"), timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = browser.post(
        stack.url("/admin/login/?next=/admin/"),
        data={"csrfmiddlewaretoken": token, "username": "bench-admin", "password": password},
        headers={"Referer": stack.url("/admin/login/"), "Origin": stack.base_url},
        timeout=30,
    )
    if done.status_code != 200 or "/admin/login/" in done.url:
        raise SystemExit(f"the admin login failed: {done.status_code} at {done.url}")
    times, rows = [], 0
    for _ in range(views + 1):
        started = time.perf_counter()
        response = browser.get(stack.url("/admin/auth/user/"), timeout=60)
        took = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"the listener list answered {response.status_code}")
        rows = response.text.count('class="action-select"')
        times.append(took)
    browser.close()
    return times[1:], rows  # the first view compiles the admin's templates


def user_id_of(stack: Stack, username: str) -> int:
    import psycopg

    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        schema = stack.django_settings("DATABASE_SCHEMA")["DATABASE_SCHEMA"]
        row = conn.execute(
            f'SELECT id FROM "{schema}".auth_user WHERE username = %s', [username]
        ).fetchone()
    return row[0]


def within(after: float, before: float, *, higher_is_better: bool) -> bool:
    """Whether ``after`` is no more than FLAT worse than ``before``."""
    if higher_is_better:
        return after >= before * (1 - FLAT)
    return after <= before * (1 + FLAT)


def run(args) -> int:
    load_at_start = os.getloadavg()
    generated = [f"listener-{n:04d}" for n in range(1, SMALL_LISTENERS + 1)]
    fresh = [f"listener-{n:04d}" for n in range(SMALL_LISTENERS + 1, SMALL_LISTENERS + 6 * LOGINS)]
    fill = args.listeners > len(generated) + 2
    print(f"Starting the stack (fake Spotify latency {ms(args.latency)}) ...", flush=True)
    with Stack(latency=args.latency, listeners=SMALL_LISTENERS + 6 * LOGINS) as stack:
        budget = connection_budget(stack)
        threads = budget["WEB_CONCURRENCY"] * budget["WEB_THREADS"]
        sampler = report.ConnectionSampler(stack, interval=0.05)
        sampler.start()

        print("Logging listeners in through the OAuth flow ...", flush=True)
        names = {}
        sessions = {}
        for number, listener in enumerate([*generated, BIG_LISTENER, WARM_LISTENER], start=1):
            browser = stack.login(listener, client_ip=f"198.51.100.{number}")
            sessions[listener] = browser
            names[listener] = browser.get(stack.url("/health"), timeout=30).json()["user"]

        print("Cold views ...", flush=True)
        warm_up(stack, sessions[WARM_LISTENER])
        small, small_calls = cold_views(
            stack, [(names[n], sessions[n]) for n in generated], repeat=1
        )
        big, big_calls = cold_views(
            stack, [(names[BIG_LISTENER], sessions[BIG_LISTENER])], repeat=args.cold_repeat
        )
        direct = round_trips(stack, generated[0])
        big_wire, big_html, big_encoding = wire_bytes(stack, sessions[BIG_LISTENER])

        print(f"Warm views and /health: {threads} client threads, {ROUNDS} rounds ...")
        warm_login = sessions[WARM_LISTENER]
        warm_name = names[WARM_LISTENER]
        clear_cache(stack)
        first = warm_login.get(stack.url("/"), timeout=30)  # fills the cache
        priming_error = _dashboard_ok(first, warm_name)
        rounds = warm_rounds(stack, warm_login, warm_name, threads, args.seconds)
        warm_calls = rounds.spotify_calls / max(1, len(rounds.all("warm").latencies))

        print("Profiling a warm view in one process ...", flush=True)
        profile = warm_profile(stack, warm_login)
        big_profile = warm_profile(stack, sessions[BIG_LISTENER])
        sampler.stop()

        print("Cache writes: one upsert against Django's set_many ...", flush=True)
        writes = cache_writes.measure(stack)

        flat = None
        if fill:
            print(f"First logins ({LOGINS}) before the fill ...", flush=True)
            logins_before, login_errors = login_times(stack, fresh[:LOGINS])
            print(f"Filling the database with {args.listeners} listeners ...", flush=True)
            made, password = populate(stack, args.listeners, user_id_of(stack, WARM_LISTENER))
            print(f"  {made}", flush=True)
            print("Warm views and /health again ...", flush=True)
            rounds_after = warm_rounds(stack, warm_login, warm_name, threads, args.seconds)
            print(f"First logins ({LOGINS}) after the fill ...", flush=True)
            logins_after, errors_after = login_times(stack, fresh[LOGINS : 2 * LOGINS])
            print("purge_expired while listeners log in ...", flush=True)
            purge = purge_during_logins(stack, fresh[2 * LOGINS :])
            print("The admin's listener list ...", flush=True)
            admin_times, admin_rows = admin_list_times(stack, password)
            flat = {
                "made": made,
                "rounds": rounds_after,
                "logins_before": logins_before,
                "logins_after": logins_after,
                "purge": purge,
                "admin_times": admin_times,
                "admin_rows": admin_rows,
                "errors": [*login_errors, *errors_after, *purge["errors"]],
            }

    errors = [*small.errors, *big.errors, *rounds.errors()]
    if priming_error:
        errors.append(priming_error)
    latency = args.latency
    rows = [
        (
            f"Cold page, ≤ 50 playlists ({len(small.latencies)} listeners, one view each)",
            f"p50 {ms(small.percentile(50))}, p95 {ms(small.percentile(95))} "
            f"(in gunicorn: p50 {ms(percentile(small.server, 50))})",
            f"p50 ≤ 1.5 x 1 round trip = {ms(1.5 * latency)}",
            small.percentile(50) <= 1.5 * latency,
        ),
        (
            f"Cold page, {BIG_LISTENER} with 120 playlists ({len(big.latencies)} views)",
            f"p50 {ms(big.percentile(50))}, p95 {ms(big.percentile(95))} "
            f"(in gunicorn: p50 {ms(percentile(big.server, 50))})",
            f"p50 ≤ 1.5 x 2 round trips = {ms(3 * latency)}",
            big.percentile(50) <= 3 * latency,
        ),
        (
            "One round trip straight to the fake (the page's 5 calls at once, 20 times)",
            f"p50 {ms(percentile(direct, 50))}, p95 {ms(percentile(direct, 95))}",
            f"(information: {ms(latency)} latency + the fake's own time)",
            True,
        ),
        (
            "Spotify calls per cold view",
            f"{small_calls:.1f} (≤ 50 playlists), {big_calls:.1f} ({BIG_LISTENER})",
            "(information)",
            True,
        ),
        (
            f"{BIG_LISTENER}'s dashboard on the wire (Accept-Encoding: gzip)",
            f"{big_wire / 1024:.1f} KB {big_encoding} ({big_html / 1024:.1f} KB of HTML)",
            f"≤ {MAX_COLLECTOR_BYTES // 1024} KB",
            big_wire <= MAX_COLLECTOR_BYTES,
        ),
        (
            f"/health, same listener ({len(rounds.all('health').latencies)} requests)",
            rounds.describe("health"),
            "(the floor)",
            True,
        ),
        (
            f"Warm page ({len(rounds.all('warm').latencies)} requests, gzip)",
            f"{rounds.describe('warm')}; {rounds.ratio:.0%} of /health "
            f"(rounds: {', '.join(f'{r:.0%}' for r in rounds.ratios)}); by server CPU per "
            f"request {rounds.cpu_ratio:.0%} (rounds: "
            f"{', '.join(f'{r:.0%}' for r in rounds.cpu_ratios)})",
            "≥ 80% of /health (median of the rounds' ratios)",
            rounds.ratio >= 0.80,
        ),
        (
            "Database queries per warm view (in one process, counted)",
            f"{profile['queries_per_view']:g} ({profile['token_queries_per_view']:g} on tokens)",
            "≤ 2, none on tokens",
            profile["queries_per_view"] <= 2 and profile["token_queries_per_view"] == 0,
        ),
        (
            "Spotify calls per warm view",
            f"{warm_calls:.2f}",
            "0",
            warm_calls == 0,
        ),
        (
            f"A warm view in one process, {WARM_LISTENER} ({profile['body_bytes']} bytes "
            f"{profile['content_encoding']}), mean ms",
            describe_profile(profile),
            "(information: where the time goes)",
            True,
        ),
        (
            f"The same for {BIG_LISTENER} ({big_profile['body_bytes']} bytes "
            f"{big_profile['content_encoding']}), mean ms",
            describe_profile(big_profile),
            "(information)",
            True,
        ),
        (
            f"A cold page's cache write, 5 sections ({len(writes['upsert'])} writes each way, "
            "alternating)",
            f"one upsert p50 {_ms1(percentile(writes['upsert'], 50))}, Django's set_many "
            f"p50 {_ms1(percentile(writes['django'], 50))}",
            "the upsert faster (else set_many goes back to Django's)",
            percentile(writes["upsert"], 50) < percentile(writes["django"], 50),
        ),
    ]
    if flat is not None:
        rows += flat_rows(flat, rounds, args.listeners)
        errors += [*flat["errors"], *flat["rounds"].errors()]
    rows += [
        (
            "Errors (non-200, wrong page, exceptions)",
            str(len(errors)),
            "0",
            not errors,
        ),
        (
            "PostgreSQL connections, application_name=euterpe "
            f"({len(sampler.connections)} samples, until the fill)",
            f"peak {sampler.peak()}",
            f"≤ {budget['DATABASE_CONNECTION_BUDGET']} (budget; this dyno may hold "
            f"{budget['WEB_CONCURRENCY']} workers x {budget['DATABASE_POOL_MAX_SIZE']} = "
            f"{budget['WEB_CONCURRENCY'] * budget['DATABASE_POOL_MAX_SIZE']}, "
            f"peak incl. reserved {budget['DATABASE_PEAK_CONNECTIONS']})",
            sampler.peak() <= budget["DATABASE_CONNECTION_BUDGET"]
            and budget["DATABASE_PEAK_CONNECTIONS"] <= budget["DATABASE_CONNECTION_BUDGET"],
        ),
    ]
    table = render(rows, args, threads, budget, load_at_start)
    print()
    print(table)
    for error in errors[:10]:
        print(f"error: {error}")
    if args.write:
        report.write_section(SECTION, table)
        print(f"Written to {report.DOC.relative_to(BASE_DIR)}")
    missed = [row[0] for row in rows if not row[3]]
    if missed:
        print("Missed targets: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


def flat_rows(flat: dict, before: Rounds, listeners: int) -> list[tuple]:
    """The rows of the run with ``listeners`` in the database, against ``before``."""
    made = flat["made"]
    after: Rounds = flat["rounds"]
    login_before = statistics.median(flat["logins_before"] or [float("nan")])
    login_after = statistics.median(flat["logins_after"] or [float("nan")])
    purge = flat["purge"]
    during = purge["during"]
    admin = flat["admin_times"]
    counts = purge["counts"]
    return [
        (
            f"Filled: {listeners} listeners",
            f"{made['listeners']} users with social links and encrypted tokens, "
            f"{made['sessions']} sessions (half expired), {made['cache_entries']} cached "
            f"sections, {made['expired_cache_entries']} expired cache entries, "
            f"{made['refused_logins']} refused logins (half older than 90 days), "
            f"in {made['seconds']:g} s",
            "(information)",
            True,
        ),
        (
            f"/health with {listeners} listeners",
            f"{after.describe('health')}; before the fill {before.health_rps:.0f} req/s",
            "within 10% of before the fill",
            within(after.health_rps, before.health_rps, higher_is_better=True),
        ),
        (
            f"Warm page with {listeners} listeners",
            f"{after.describe('warm')}; {after.ratio:.0%} of /health; before the fill "
            f"{before.warm_rps:.0f} req/s",
            "within 10% of before the fill",
            within(after.warm_rps, before.warm_rps, higher_is_better=True),
        ),
        (
            f"Login + first page with {listeners} listeners ({len(flat['logins_after'])} "
            "first logins, one at a time)",
            f"p50 {ms(login_after)}; before the fill p50 {ms(login_before)} "
            f"({len(flat['logins_before'])} logins)",
            "within 10% of before the fill",
            within(login_after, login_before, higher_is_better=False),
        ),
        (
            "purge_expired while listeners log in",
            f"{purge['seconds']:.2f} s for {counts['cache_entries']} cache entries, "
            f"{counts['sessions']} sessions, {counts['refused_logins']} refused logins; "
            f"{len(during)} logins overlapped it, slowest {ms(max(during, default=float('nan')))}"
            f" (p50 of all {len(purge['all'])} logins then {ms(percentile(purge['all'], 50))})",
            "logins go on during the purge: none fails, none slower than twice the p50 "
            "before the fill",
            bool(during) and not purge["errors"] and max(during) <= 2 * login_before,
        ),
        (
            f"The admin's listener list with {listeners} listeners ({flat['admin_rows']} rows "
            "a page, token-status columns)",
            f"p50 {ms(percentile(admin, 50))}, p95 {ms(percentile(admin, 95))} "
            f"({len(admin)} views)",
            f"p50 < {ADMIN_LIST_MS} ms (no query per row: accounts/tests/test_admin.py)",
            percentile(admin, 50) < ADMIN_LIST_MS / 1000,
        ),
    ]


def command(args) -> str:
    """How this run was started, as make would."""
    made = "make bench"
    if args.listeners != 10:
        made += f" BENCH_LISTENERS={args.listeners}"
    defaults = {"latency": 0.1, "seconds": 5.0, "cold_repeat": 10}
    changed = [
        f"--{name.replace('_', '-')} {getattr(args, name):g}"
        for name, default in defaults.items()
        if getattr(args, name) != default
    ]
    return made + (f" (python -m bench.dashboard {' '.join(changed)})" if changed else "")


def render(rows, args, threads: int, budget: dict, load_at_start) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Run `{command(args)}` ({today}) on {machine_and_load(load_at_start)}.",
        f"gunicorn as the Procfile starts it ({budget['WEB_CONCURRENCY']} workers x "
        f"{budget['WEB_THREADS']} threads, DEBUG off, plain HTTP behind a simulated router "
        f"sending `X-Forwarded-Proto: https`); the fake Spotify answers every call after "
        f"{ms(args.latency)}; warm phases: {threads} client threads for {args.seconds:g} s "
        f"each, in {ROUNDS} alternating rounds, loopback only, client and server sharing "
        "the machine.",
        "",
        "Cold: Euterpe's cache table emptied before each view (the workers have already "
        'rendered pages); "in gunicorn" is the server\'s own time from its access log. '
        "Spotify calls come from the fake's counters; connections are `pg_stat_activity` rows "
        "of the bench's database with `application_name=euterpe`, sampled every 50 ms "
        "through the whole run.",
        "",
        "Warm: each round is /health then the dashboard, same listener, same client threads; "
        "the figures are the medians of the rounds. Requests per second on a machine shared "
        'with other work swing with that work; "server CPU" is the CPU time gunicorn\'s '
        "workers and Euterpe's PostgreSQL backends spent per request (from /proc), which "
        "does not, and its ratio is what the throughput ratio would be were the server's CPU "
        "all that limits it. The profile of a warm view is `bench.warm_profile`: views one "
        "at a time through Django's WSGI handler in one process, parts timed by wrapping the "
        "functions that do them.",
        "",
        "| Measure | Result | Target | Met |",
        "| --- | --- | --- | --- |",
    ]
    for measure, result, target, met in rows:
        lines.append(f"| {measure} | {result} | {target} | {'yes' if met else '**NO**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per Spotify call")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="length of each warm phase (of each round)"
    )
    parser.add_argument("--cold-repeat", type=int, default=10, help="cold views of collector")
    parser.add_argument(
        "--listeners",
        type=int,
        default=10,
        help="fill the database with this many listeners, then measure again",
    )
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print only, leave the docs alone"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
