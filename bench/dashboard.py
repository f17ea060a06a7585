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
- PostgreSQL connections with ``application_name=euterpe`` on the bench's
  database, sampled during the load, against the connection budget.

It prints a table, replaces the "Dashboard benchmark" section of
docs/benchmarks.md with it (machine and date included) and exits 1 if a
target is missed. Loopback only; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from bench import cache_writes, report
from bench.report import clear_cache, ms, percentile
from devtools.stack import BASE_DIR, Stack

SECTION = "## Dashboard benchmark"
SMALL_LISTENERS = 20  # generated listeners, 0-30 playlists each
BIG_LISTENER = "collector"  # 120 playlists: three pages of 50
WARM_LISTENER = "alice"
MAX_REQUESTS_PER_PHASE = 50_000
ROUNDS = 4  # the warm phases alternate /health and the dashboard this many times


@dataclass
class Sample:
    """Latencies (seconds) and failures of one measured phase."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server: list[float] = field(default_factory=list)  # gunicorn's own request times

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)

    def add(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed

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


def hammer(stack: Stack, login, path: str, check, threads: int, seconds: float) -> Sample:
    """``threads`` clients with ``login``'s cookies GET ``path`` for ``seconds``."""
    sample = Sample()
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


def run(args) -> int:
    load_at_start = os.getloadavg()
    generated = [f"listener-{n:04d}" for n in range(1, SMALL_LISTENERS + 1)]
    print(f"Starting the stack (fake Spotify latency {ms(args.latency)}) ...", flush=True)
    with Stack(latency=args.latency, listeners=SMALL_LISTENERS) as stack:
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

        print(f"Warm views and /health: {threads} client threads, {args.seconds:g} s each ...")
        warm_login = sessions[WARM_LISTENER]
        warm_name = names[WARM_LISTENER]
        clear_cache(stack)
        first = warm_login.get(stack.url("/"), timeout=30)  # fills the cache
        priming_error = _dashboard_ok(first, warm_name)

        def health_ok(response):
            if response.status_code != 200:
                return f"{response.status_code} on /health"
            if response.json().get("user") != warm_name:
                return "/health did not see the logged-in listener"
            return None

        # Short alternating rounds, so that a change in what else the machine is
        # doing weighs on both sides alike.
        health, warm = Sample(), Sample()
        warm_calls = 0
        share = args.seconds / ROUNDS
        for _ in range(ROUNDS):
            health.add(hammer(stack, warm_login, "/health", health_ok, threads, share))
            before = stack.fake_calls()
            warm.add(
                hammer(
                    stack,
                    warm_login,
                    "/",
                    lambda response: _dashboard_ok(response, warm_name),
                    threads,
                    share,
                )
            )
            warm_calls += stack.fake_calls() - before
        warm_calls /= max(1, len(warm.latencies))
        sampler.stop()

        print("Cache writes: one upsert against Django's set_many ...", flush=True)
        writes = cache_writes.measure(stack)

    errors = [*small.errors, *big.errors, *health.errors, *warm.errors]
    if priming_error:
        errors.append(priming_error)
    latency = args.latency
    ratio = warm.throughput / health.throughput if health.throughput else 0.0
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
            f"/health, same listener ({len(health.latencies)} requests)",
            f"{health.throughput:.0f} req/s, p50 {ms(health.percentile(50))}, "
            f"p95 {ms(health.percentile(95))}",
            "(the floor)",
            True,
        ),
        (
            f"Warm page ({len(warm.latencies)} requests)",
            f"{warm.throughput:.0f} req/s = {ratio:.0%} of /health, "
            f"p50 {ms(warm.percentile(50))}, p95 {ms(warm.percentile(95))}",
            "≥ 40% of /health",
            ratio >= 0.40,
        ),
        (
            "Spotify calls per warm view",
            f"{warm_calls:.2f}",
            "0",
            warm_calls == 0,
        ),
        (
            f"A cold page's cache write, 5 sections ({len(writes['upsert'])} writes each way, "
            "alternating)",
            f"one upsert p50 {_ms1(percentile(writes['upsert'], 50))}, Django's set_many "
            f"p50 {_ms1(percentile(writes['django'], 50))}",
            "the upsert faster (else set_many goes back to Django's)",
            percentile(writes["upsert"], 50) < percentile(writes["django"], 50),
        ),
        (
            "Errors (non-200, wrong page, exceptions)",
            str(len(errors)),
            "0",
            not errors,
        ),
        (
            "PostgreSQL connections, application_name=euterpe "
            f"({len(sampler.connections)} samples)",
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


def render(rows, args, threads: int, budget: dict, load_at_start) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Run `make bench` ({today}) on {machine_and_load(load_at_start)}.",
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
        "| Measure | Result | Target | Met |",
        "| --- | --- | --- | --- |",
    ]
    for measure, result, target, met in rows:
        lines.append(f"| {measure} | {result} | {target} | {'yes' if met else '**NO**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per Spotify call")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each warm phase")
    parser.add_argument("--cold-repeat", type=int, default=10, help="cold views of collector")
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print only, leave the docs alone"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
