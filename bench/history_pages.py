"""`make bench`: /history and summary.json on real-sized histories, under gunicorn (Procfile).

    python -m devtools.localdb run -- python -m bench.history_pages [--rounds 3] [--no-write]

One run, through ``devtools.stack`` (production settings, gunicorn and the worker as the
Procfile starts them, plain HTTP behind the simulated router), measured from outside by one
logged-in client per listener, one request at a time (the latency a listener meets):

1. Five listeners log in through the OAuth flow (a Development Mode app's limit); their
   histories are seeded straight into the database (``devtools.history_seed``): one with
   500,000 entries over twelve years, four with 50,000 over five. Each then saves a time zone
   through the page's form, which queues the worker's ``precompute.rebuild`` (the same rebuild
   an import's end runs); its time on the worker is the precompute time.
2. For every preset the worker stored (all time, the last 12 months, each year and month), in
   the listener's zone: ``/history`` and ``summary.json`` once right after the rebuild (the
   first view after an import), then ``--rounds`` more times (warm). Twenty custom ranges per
   listener (never precomputed), ``--rounds`` times. Then cold: the listener's stored
   summaries deleted, every preset's ``summary.json`` once; deleted again, every preset's page
   once, all time first (a listener's first visit computes all time, later ones find it).
3. ``EXPLAIN (ANALYZE, BUFFERS)`` of every query the computation and the warm path run, for
   the biggest listener's all-time summary and a 50,000-entry listener's year.
4. 995 more listeners with small histories (1,000 entries each) are added, and a 50,000-entry
   listener is measured again (warm p95, custom p95, the same plans and buffers): what a
   listener's pages cost must not grow with the number of listeners.

Headline figures are the median of the ``--rounds`` rounds' p95. It prints the tables,
replaces the "History pages" section of docs/benchmarks.md and exits 1 if a target is missed.
``python -m bench.history_pages explain USER_ID ZONE [FROM TO]`` is the step-3 helper the
run starts in the stack's environment (it prints JSON).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import psycopg

from bench import report
from bench.dashboard import machine_and_load
from bench.report import ms, percentile
from devtools.stack import BASE_DIR, Stack

SECTION = "## History pages"
ZONES = (
    "Europe/Berlin",
    "UTC",
    "America/Argentina/Buenos_Aires",
    "Asia/Kolkata",
    "America/New_York",
)
BIG, SMALL = 0, 1  # indexes into the listeners: the 500,000-entry one and a 50,000-entry one
CUSTOM_RANGES = 20
CROWD = "crowd"
TARGET_WARM = 0.150
TARGET_FIRST = 0.500
TARGET_CUSTOM = 1.0
SEED_TIMEOUT = 1800


@dataclass
class Listener:
    name: str
    zone: str
    entries: int
    years: int
    tracks: int
    browser: object = None
    user_id: int = 0
    presets: list[str] = field(default_factory=list)
    precompute_s: float = float("nan")
    customs: list[str] = field(default_factory=list)


@dataclass
class Timings:
    """Latencies (seconds) of /history and summary.json, per round."""

    rounds: list[list[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add_round(self, values: list[float]) -> None:
        self.rounds.append(values)

    @property
    def everything(self) -> list[float]:
        return [value for values in self.rounds for value in values]

    def median_p95(self) -> float:
        """The median over rounds of each round's p95 (NaN without rounds)."""
        if not self.rounds:
            return float("nan")
        return statistics.median(percentile(values, 95) for values in self.rounds)

    def spread(self) -> str:
        return ", ".join(ms(percentile(values, 95)) for values in self.rounds)


# --- talking to the stack -----------------------------------------------------------


def connect(stack: Stack) -> psycopg.Connection:
    schema = stack.django_settings("DATABASE_SCHEMA")["DATABASE_SCHEMA"]
    return psycopg.connect(stack.database_url, autocommit=True, options=f"-c search_path={schema}")


def run_in_stack(stack: Stack, *args: str, timeout: float = SEED_TIMEOUT) -> str:
    """``python -m ARGS`` with the stack's environment (its database, its settings)."""
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=BASE_DIR,
        env={**stack.env, "DJANGO_SETTINGS_MODULE": "euterpe_site.settings"},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def seed(stack: Stack, name: str, *, entries: int, years: int, tracks: int, create: int = 0):
    args = ["devtools.history_seed", name, "--entries", str(entries)]
    args += ["--years", str(years), "--tracks", str(tracks)]
    if create:
        args += ["--create", str(create)]
    return run_in_stack(stack, *args)


def vacuum_analyze(db: psycopg.Connection) -> None:
    """What autovacuum does a minute after a big import, done now so plans do not depend on it."""
    for table in (
        "listening_history_entry",
        "listening_history_item",
        "listening_history_artist",
        "listening_history_album",
        "listening_history_term",
        "listening_history_precomputedsummary",
    ):
        db.execute(f"VACUUM (ANALYZE) {table}")


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token on /history")
    return match.group(1)


def save_zone(stack: Stack, listener: Listener, token: str) -> None:
    """The page's time-zone form: saves the zone and queues the worker's rebuild."""
    response = listener.browser.post(
        stack.url("/history/time-zone"),
        data={"csrfmiddlewaretoken": token, "zone": listener.zone},
        headers={"Origin": stack.base_url, "Referer": stack.url("/history")},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"saving {listener.name}'s zone answered {response.status_code}")


def wait_for_rebuilds(db: psycopg.Connection, listeners: list[Listener], timeout: float) -> None:
    """Until the worker has run every listener's rebuild; their times on the worker."""
    deadline = time.monotonic() + timeout
    wanted = {listener.user_id: listener for listener in listeners}
    while time.monotonic() < deadline:
        rows = db.execute(
            """
            SELECT args_kwargs, status, started_at, finished_at
            FROM django_tasks_database_dbtaskresult
            WHERE task_path LIKE %s
            """,
            ["%rebuild_summaries"],
        ).fetchall()
        done = {}
        for args_kwargs, status, started, finished in rows:
            user_id = args_kwargs["args"][0]
            if user_id in wanted and status in ("SUCCESSFUL", "FAILED"):
                if status == "FAILED":
                    raise RuntimeError(f"the rebuild of user {user_id} failed on the worker")
                done[user_id] = (finished - started).total_seconds()
        if len(done) == len(wanted):
            for user_id, seconds in done.items():
                wanted[user_id].precompute_s = seconds
            return
        time.sleep(0.5)
    raise RuntimeError("the worker did not rebuild every listener's summaries in time")


def stored_presets(db: psycopg.Connection, listener: Listener) -> list[str]:
    """The period keys the worker stored for the listener's zone: all time first."""
    keys = [
        key
        for (key,) in db.execute(
            """
            SELECT period FROM listening_history_precomputedsummary
            WHERE user_id = %s AND zone = %s AND "order" = 'time' ORDER BY period
            """,
            [listener.user_id, listener.zone],
        ).fetchall()
    ]
    # The worker also stores the day's discoveries ("discoveries:…"), not a period.
    periods = [key for key in keys if key == "all" or PERIOD_KEY.fullmatch(key)]
    return sorted(periods, key=lambda key: (key != "all", key))


PERIOD_KEY = re.compile(r"\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}")


def forget(db: psycopg.Connection, listener: Listener) -> None:
    db.execute(
        "DELETE FROM listening_history_precomputedsummary WHERE user_id = %s", [listener.user_id]
    )


def query(key: str) -> str:
    if key == "all":
        return ""
    start, end = key.split("..")
    return "?" + urlencode({"from": start, "to": end})


def custom_ranges(db: psycopg.Connection, listener: Listener, count: int) -> list[str]:
    """``count`` ranges of 2 to 1,500 days inside the history, none of them a preset."""
    first, last = db.execute(
        "SELECT min(ts)::date, max(ts)::date FROM listening_history_entry WHERE user_id = %s",
        [listener.user_id],
    ).fetchone()
    rnd = random.Random(f"history-pages:{listener.name}")
    span = (last - first).days
    ranges = []
    while len(ranges) < count:
        length = rnd.randint(2, min(1500, span))
        start = first + datetime.timedelta(days=rnd.randint(0, span - length))
        end = start + datetime.timedelta(days=length - 1)
        if start.day == 1:  # a calendar month or year is a preset
            start += datetime.timedelta(days=1)
        ranges.append(f"{start.isoformat()}..{end.isoformat()}")
    return ranges


def fetch(stack: Stack, listener: Listener, path: str, key: str, errors: list[str]) -> float:
    """One GET of ``path`` for the period ``key``; its latency. Wrong answers go to ``errors``."""
    started = time.perf_counter()
    response = listener.browser.get(stack.url(path + query(key)), timeout=60)
    took = time.perf_counter() - started
    if response.status_code != 200:
        errors.append(f"{response.status_code} on {path}{query(key)} for {listener.name}")
    elif path.endswith(".json"):
        answer = response.json()
        period = None if key == "all" else key.split("..")
        if answer["tz"] != listener.zone or (period and [answer["from"], answer["to"]] != period):
            errors.append(f"{path}{query(key)} for {listener.name}: wrong period or zone")
    elif "Your listening history" not in response.text or "No listening history" in response.text:
        errors.append(f"{path}{query(key)} for {listener.name}: not the listener's history")
    return took


PAGES = ("/history", "/history/summary.json")


def views(stack: Stack, listener: Listener, keys: list[str], errors: list[str]) -> list[float]:
    """Every key's page and JSON, once each, in order."""
    return [fetch(stack, listener, path, key, errors) for key in keys for path in PAGES]


def cold_views(stack, db, listener: Listener, errors: list[str]) -> tuple[list[float], float]:
    """Every preset with nothing stored: JSON after JSON, then page after page, all time first.

    Returns the latencies and the first page (all time, nothing stored) on its own.
    """
    forget(db, listener)
    latencies = [
        fetch(stack, listener, "/history/summary.json", key, errors) for key in listener.presets
    ]
    forget(db, listener)
    pages = [fetch(stack, listener, "/history", key, errors) for key in listener.presets]
    return latencies + pages, pages[0]


# --- plans ---------------------------------------------------------------------------


LABELS = (
    ("WITH per_item", "items (per item, joined to names)"),
    ("GROUPING SETS", "one pass: clock, timeline, months, habits"),
    ("SELECT min(e.ts)", "timeline span (all time)"),
    ("FROM listening_history_term", "habit terms' names"),
    ("listening_history_listenerzone", "warm: the listener's zone"),
    ("listening_history_import", "warm: the history's stamp"),
    ("listening_history_precomputedsummary", "warm: the stored summary"),
)


def label(sql: str) -> str:
    for needle, name in LABELS:
        if needle in sql:
            return name
    return " ".join(sql.split())[:60]


def _nodes(plan: dict) -> list[str]:
    """The plan's scans and joins, depth first, as 'Index Scan on listening_history_entry'."""
    found = []
    kind = plan["Node Type"]
    if "Scan" in kind or "Join" in kind or kind in ("Nested Loop", "HashAggregate", "Sort"):
        text = kind
        if plan.get("Index Name"):
            text += f" using {plan['Index Name']}"
        if plan.get("Relation Name"):
            text += f" on {plan['Relation Name'].removeprefix('listening_history_')}"
        found.append(text)
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def explain(user_id: int, zone_name: str, start: str | None, end: str | None) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of every query of one summary, computed and then stored,
    and where the computation's time goes (PostgreSQL, Python; the median of three).

    Runs in the stack's environment: the SQL is exactly what the views run.
    """
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from listening_history import insights, precompute

    period = insights.Period()
    if start:
        period = insights.Period(
            datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
        )
    today = insights.today_in(insights.zone(zone_name))
    runs = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as computed:
            started = time.perf_counter()
            insights.summary(user_id, tz_name=zone_name, period=period)
            total = time.perf_counter() - started
        sql = sum(float(query["time"]) for query in computed.captured_queries)
        runs.append((total * 1000, sql * 1000))
    total_ms, sql_ms = sorted(runs)[1]
    # The warm path of a preset: the zone, the stamp and the stored row (stored if missing).
    with CaptureQueriesContext(connection) as warm:
        if precompute.is_preset(period, today=today):
            precompute.get_summary(user_id, zone_name=zone_name, period=period, today=today)
    if warm.captured_queries:
        with CaptureQueriesContext(connection) as warm:
            precompute.zone_of(user_id)
            precompute.get_summary(user_id, zone_name=zone_name, period=period, today=today)
    plans = []
    with connection.cursor() as cursor:
        for captured in [*computed.captured_queries, *warm.captured_queries]:
            sql = captured["sql"]
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            result = cursor.fetchone()[0]
            result = json.loads(result) if isinstance(result, str) else result
            top = result[0]
            plan = top["Plan"]
            plans.append(
                {
                    "query": label(sql),
                    "ms": top["Execution Time"],
                    "hit": plan.get("Shared Hit Blocks", 0),
                    "read": plan.get("Shared Read Blocks", 0),
                    "rows": plan.get("Actual Rows", 0),
                    "nodes": _nodes(plan),
                }
            )
    return {"plans": plans, "total_ms": total_ms, "sql_ms": sql_ms, "items": plans[0]["rows"]}


def plans_of(stack: Stack, listener: Listener, key: str) -> dict:
    args = ["bench.history_pages", "explain", str(listener.user_id), listener.zone]
    if key != "all":
        args += key.split("..")
    return json.loads(run_in_stack(stack, *args).strip().splitlines()[-1])


# --- the run ---------------------------------------------------------------------------


def measure(stack, db, listener: Listener, rounds: int, errors: list[str]) -> dict:
    """Everything step 2 measures for one listener (see the module docstring)."""
    first = views(stack, listener, listener.presets, errors)
    warm, custom, cold = Timings(), Timings(), Timings()
    for _ in range(rounds):
        warm.add_round(views(stack, listener, listener.presets, errors))
        custom.add_round(views(stack, listener, listener.customs, errors))
    first_pages = []
    for _ in range(rounds):
        latencies, first_page = cold_views(stack, db, listener, errors)
        cold.add_round(latencies)
        first_pages.append(first_page)
    # The cold pages stored every preset again: the listener is as the worker left them.
    return {
        "first": first,
        "warm": warm,
        "custom": custom,
        "cold": cold,
        "cold_first_page": statistics.median(first_pages),
    }


def run(args) -> int:
    load_at_start = os.getloadavg()
    started_at = datetime.datetime.now(datetime.UTC)
    sizes = [(args.big, 12, args.big_tracks)] + [(args.small, 5, args.small_tracks)] * 4
    listeners = [
        Listener(f"listener-{n:04d}", zone, entries, years, tracks)
        for n, (zone, (entries, years, tracks)) in enumerate(zip(ZONES, sizes, strict=True), 1)
    ]
    errors: list[str] = []
    print("Starting the stack ...", flush=True)
    with Stack(listeners=len(listeners)) as stack, connect(stack) as db:
        tokens = {}
        for number, listener in enumerate(listeners, start=1):
            listener.browser = stack.login(listener.name, client_ip=f"198.51.100.{number}")
            # The empty page (cheap): its CSRF token for the zone form.
            tokens[listener.name] = csrf_token(
                listener.browser.get(stack.url("/history"), timeout=30).text
            )
            listener.user_id = db.execute(
                "SELECT id FROM auth_user WHERE username = %s", [listener.name]
            ).fetchone()[0]
        for listener in listeners:
            print(f"Seeding {listener.name}: {listener.entries:,} entries ...", flush=True)
            seed(
                stack,
                listener.name,
                entries=listener.entries,
                years=listener.years,
                tracks=listener.tracks,
            )
        vacuum_analyze(db)
        print("Saving zones; the worker rebuilds every preset ...", flush=True)
        for listener in listeners:
            save_zone(stack, listener, tokens[listener.name])
        wait_for_rebuilds(db, listeners, timeout=1800)
        for listener in listeners:
            listener.presets = stored_presets(db, listener)
            listener.customs = custom_ranges(db, listener, CUSTOM_RANGES)

        results = {}
        for listener in listeners:
            print(
                f"Measuring {listener.name} ({len(listener.presets)} presets, "
                f"{args.rounds} rounds) ...",
                flush=True,
            )
            results[listener.name] = measure(stack, db, listener, args.rounds, errors)

        print("The artist, track, discoveries and recap pages ...", flush=True)
        others = other_pages(stack, listeners[BIG], args.rounds, errors)

        print("Plans ...", flush=True)
        big, small = listeners[BIG], listeners[SMALL]
        # The last whole year: the first one may hold a month or two only.
        years = [key for key in small.presets if key.endswith("-12-31") and "-01-01.." in key]
        year = years[-2] if len(years) > 1 else years[-1]
        big_plans = plans_of(stack, big, "all")
        longest = max(big.customs, key=_days)
        big_custom_plans = plans_of(stack, big, longest)
        small_plans = plans_of(stack, small, year)

        print(f"Adding {args.crowd - len(listeners)} listeners of {args.crowd_entries} entries ...")
        load_before_crowd = os.getloadavg()
        seed(
            stack,
            CROWD,
            entries=args.crowd_entries,
            years=2,
            tracks=100,
            create=args.crowd - len(listeners),
        )
        vacuum_analyze(db)
        crowd_count = db.execute("SELECT count(*) FROM auth_user").fetchone()[0]
        crowd_entries = db.execute("SELECT count(*) FROM listening_history_entry").fetchone()[0]
        print(f"Measuring {small.name} again among {crowd_count} listeners ...", flush=True)
        crowd_warm, crowd_custom = Timings(), Timings()
        for _ in range(args.rounds):
            crowd_warm.add_round(views(stack, small, small.presets, errors))
            crowd_custom.add_round(views(stack, small, small.customs, errors))
        crowd_plans = plans_of(stack, small, year)

    context = {
        "listeners": listeners,
        "results": results,
        "big_plans": big_plans,
        "big_custom_plans": big_custom_plans,
        "longest": longest,
        "small_plans": small_plans,
        "crowd_plans": crowd_plans,
        "year": year,
        "crowd_count": crowd_count,
        "crowd_entries": crowd_entries,
        "crowd_warm": crowd_warm,
        "crowd_custom": crowd_custom,
        "load_at_start": load_at_start,
        "load_before_crowd": load_before_crowd,
        "started_at": started_at,
        "args": args,
    }
    text, missed = render(context)
    others_text, others_missed = render_others(listeners[BIG], others, args.rounds)
    text = text.rstrip("\n") + "\n\n" + others_text
    missed += others_missed
    print()
    print(text)
    for error in errors[:10]:
        print(f"error: {error}")
    if errors:
        missed.append(f"{len(errors)} wrong answers")
    if args.write:
        report.write_section(SECTION, text)
        print(f"Written to {report.DOC.relative_to(BASE_DIR)}")
    if missed:
        print("Missed targets: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


# --- the other history pages --------------------------------------------------------

OTHER_VIEWS = 10


def page_time(stack: Stack, listener: Listener, path: str, errors: list[str]) -> float:
    """One GET of a page of the listener's own; its latency. A non-200 goes to ``errors``."""
    started = time.perf_counter()
    response = listener.browser.get(stack.url(path), timeout=60)
    took = time.perf_counter() - started
    if response.status_code != 200:
        errors.append(f"{response.status_code} on {path} for {listener.name}")
    return took


def other_pages(stack: Stack, listener: Listener, rounds: int, errors: list[str]) -> list:
    """The top artist's and top track's pages (linked from /history), discoveries, the year
    list and the last whole year's recap: the first view (after the worker's rebuild), then
    OTHER_VIEWS views a round. Returns [(label, path, first, Timings)]."""
    history = listener.browser.get(stack.url("/history"), timeout=60).text
    recaps = listener.browser.get(stack.url("/history/recap"), timeout=60).text
    years = sorted(set(re.findall(r'href="/history/recap/(\d{4})"', recaps)))
    pages = [
        ("top artist", re.search(r'href="(/history/artist/[0-9a-f]+)"', history)),
        ("top track", re.search(r'href="(/history/track/[0-9a-f]+)"', history)),
    ]
    paths = [(label, found.group(1)) for label, found in pages if found]
    paths += [("discoveries", "/history/discoveries"), ("the year list", "/history/recap")]
    if years:
        year = years[-2] if len(years) > 1 else years[-1]
        paths.append((f"recap {year}", f"/history/recap/{year}"))
    if len(paths) < 5:
        errors.append(f"/history or /history/recap for {listener.name}: links missing")
    measured = []
    for label, path in paths:
        first = page_time(stack, listener, path, errors)
        warm = Timings()
        for _ in range(rounds):
            warm.add_round([page_time(stack, listener, path, errors) for _ in range(OTHER_VIEWS)])
        measured.append((label, path, first, warm))
    return measured


def render_others(listener: Listener, others: list, rounds: int) -> tuple[str, list[str]]:
    missed = []
    lines = [
        f"### Artist, track, discoveries and recap pages ({listener.name}, "
        f"{listener.entries:,} entries)",
        "",
        "Same run, same listener, all time: the top artist's and top track's pages (the first "
        "links on its /history), `/history/discoveries`, `/history/recap` and the last whole "
        "year's recap. First view: once, after the worker's rebuild (the worker stores the "
        "presets and the discoveries; a detail page or a recap computes and stores its own on "
        f"its first view). Warm: {OTHER_VIEWS} views a round, the median of {rounds} rounds' p95.",
        "",
        "| Page | First view | Warm p95 | Target | Met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, _path, first, warm in others:
        p95 = warm.median_p95()
        met = "yes" if p95 <= TARGET_WARM and first <= TARGET_FIRST else "**NO**"
        if met != "yes":
            missed.append(f"{label}: first view {ms(first)}, warm p95 {ms(p95)}")
        lines.append(
            f"| {label} | {ms(first)} | {ms(p95)} ({warm.spread()}) | first ≤ "
            f"{ms(TARGET_FIRST)}, warm ≤ {ms(TARGET_WARM)} | {met} |"
        )
    return "\n".join(lines) + "\n", missed


def _met(value: float, target: float) -> str:
    return "yes" if value <= target else "**NO**"


def render(context: dict) -> tuple[str, list[str]]:
    args = context["args"]
    listeners, results = context["listeners"], context["results"]
    missed = []
    when = context["started_at"].strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Run `python -m devtools.localdb run -- python -m bench.history_pages` (in `make bench`; "
        f"{when}) on {machine_and_load(context['load_at_start'])}.",
        "gunicorn and the worker as the Procfile starts them (production settings, plain HTTP "
        "behind a simulated router); one logged-in client per listener, one request at a time, "
        "client and server sharing the machine. Histories seeded straight into PostgreSQL "
        "(`devtools.history_seed`: entries spread evenly, tracks drawn evenly from the "
        "listener's catalogue), then `VACUUM (ANALYZE)` as autovacuum would after an import. "
        "Each listener saves a time zone through the page's form, which queues the worker's "
        "`precompute.rebuild` (the rebuild an import's end runs). Every preset the worker "
        "stored (all time, last 12 months, every year and month with entries) is requested as "
        "`/history` and as `summary.json`; p95 is over both. Headline figures: the median of "
        f"{args.rounds} rounds' p95 (each round's p95 in brackets).",
        "",
        "- **First view after an import**: every preset once, right after the worker's rebuild.",
        "- **Warm**: every preset again, each round.",
        f"- **Custom range**: {CUSTOM_RANGES} ranges of 2 to 1,500 days (not presets, never "
        "stored), each round.",
        "- **Cold, nothing stored**: the listener's stored summaries deleted; every preset's "
        "JSON once, then (deleted again) every preset's page once, all time first. The "
        "first page computes all time; later pages find it stored and compute their own period.",
        "",
        "| Listener | Entries | Zone | Presets | Precompute on the worker | First view after "
        "the rebuild, p95 | Warm p95 | Custom range p95 | Cold p95 (first page, all time) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for listener in listeners:
        result = results[listener.name]
        first = percentile(result["first"], 95)
        warm, custom, cold = result["warm"], result["custom"], result["cold"]
        lines.append(
            f"| {listener.name} | {listener.entries:,} over {listener.years} years, "
            f"{listener.tracks:,} tracks | {listener.zone} | {len(listener.presets)} | "
            f"{listener.precompute_s:.1f} s | {ms(first)} | {ms(warm.median_p95())} "
            f"({warm.spread()}) | {ms(custom.median_p95())} ({custom.spread()}) | "
            f"{ms(cold.median_p95())} ({ms(result['cold_first_page'])}) |"
        )
    big = results[listeners[BIG].name]
    every = list(results.values())
    worst_warm = max(result["warm"].median_p95() for result in every)
    worst_first = max(percentile(result["first"], 95) for result in every)
    worst_custom = max(result["custom"].median_p95() for result in every)
    worst_cold = max(result["cold"].median_p95() for result in every)
    targets = [
        ("Warm p95, every listener", worst_warm, TARGET_WARM),
        ("First view after an import (after the worker's rebuild), p95", worst_first, TARGET_FIRST),
        ("Custom range p95", worst_custom, TARGET_CUSTOM),
    ]
    lines += [
        "",
        "| Target | Worst listener | Target | Met |",
        "| --- | --- | --- | --- |",
    ]
    for name, value, target in targets:
        lines.append(f"| {name} | {ms(value)} | ≤ {ms(target)} | {_met(value, target)} |")
        if value > target:
            missed.append(name)
    lines.append(
        f"| Cold, nothing stored (information: a page met before the worker's rebuild ends), "
        f"p95 | {ms(worst_cold)}; the {listeners[BIG].entries:,}-entry listener's first page "
        f"{ms(big['cold_first_page'])} | ≤ {ms(TARGET_FIRST)} if it were the first view | "
        f"{'yes' if worst_cold <= TARGET_FIRST else 'no (see below)'} |"
    )
    if worst_custom > TARGET_CUSTOM:
        lines += ["", *custom_miss(context)]
    lines += ["", *plan_section(context)]
    lines += ["", *crowd_section(context, missed)]
    return "\n".join(lines) + "\n", missed


def _days(key: str) -> int:
    start, end = (datetime.date.fromisoformat(day) for day in key.split(".."))
    return (end - start).days + 1


def _profile(explained: dict) -> str:
    total, sql = explained["total_ms"], explained["sql_ms"]
    return (
        f"{total:.0f} ms to compute ({sql:.0f} ms waiting on PostgreSQL, {total - sql:.0f} ms in "
        f"Python folding {explained['items']:,} items into tracks, artists, albums and shows)"
    )


def custom_miss(context: dict) -> list[str]:
    """Why a custom range misses its target: where the time of the longest one goes."""
    big = context["listeners"][BIG]
    explained = context["big_custom_plans"]
    return [
        f"Why custom ranges miss: they are never stored, so each request computes its period "
        f"(and reads the stored all-time row for the picker). {big.name}'s longest range, "
        f"{context['longest'].replace('..', ' to ')}, takes {_profile(explained)}. PostgreSQL "
        "makes two passes over the period's entries (per item with the names joined, and one "
        "for the clock, timeline, months and habits together; plans below); Python then folds "
        "the items into tracks, artists and albums by their normalised names (PostgreSQL has "
        "no full case folding), which grows with the distinct items in the range. The seeded "
        f"history is the hard case: its {big.tracks:,} tracks are played evenly over the twelve "
        "years, so a range of a few years holds nearly all of them; the time is CPU time on "
        "a shared 2-CPU machine (see the load above), where the client, gunicorn, the worker "
        "and PostgreSQL also share the two cores.",
    ]


def _plan_table(explained: dict) -> list[str]:
    plans = explained["plans"]
    rows = [
        "| Query | Time | Buffers (hit + read) | Rows | Plan |",
        "| --- | --- | --- | --- | --- |",
    ]
    for plan in plans:
        nodes = "; ".join(dict.fromkeys(plan["nodes"])) or "-"
        rows.append(
            f"| {plan['query']} | {plan['ms']:.1f} ms | {plan['hit']} + {plan['read']} | "
            f"{plan['rows']} | {nodes} |"
        )
    return rows


def plan_section(context: dict) -> list[str]:
    big, small = context["listeners"][BIG], context["listeners"][SMALL]
    lines = [
        "### Query plans",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of every query of one summary, as the views run them "
        "(`python -m bench.history_pages explain`): computed (the cold path and the worker's "
        "rebuild), then the warm path (zone, stamp, stored row). Each table starts with where "
        "the computation's time goes (`insights.summary` in the stack's environment, median "
        "of three, while nothing else of the bench runs).",
        "",
        f"{big.name}'s all time ({big.entries:,} entries, {big.zone}): "
        f"{_profile(context['big_plans'])}.",
        "",
        *_plan_table(context["big_plans"]),
        "",
        f"{big.name}'s longest custom range, {context['longest'].replace('..', ' to ')} "
        f"({_days(context['longest']):,} days): {_profile(context['big_custom_plans'])}.",
        "",
        *_plan_table(context["big_custom_plans"]),
        "",
        f"{small.name}'s year {context['year'].split('..')[0][:4]} ({small.entries:,} entries, "
        f"{small.zone}): {_profile(context['small_plans'])}.",
        "",
        *_plan_table(context["small_plans"]),
    ]
    return lines


def crowd_section(context: dict, missed: list[str]) -> list[str]:
    small = context["listeners"][SMALL]
    before = context["results"][small.name]
    before_plans = context["small_plans"]["plans"]
    after_plans = context["crowd_plans"]["plans"]
    lines = [
        f"### {context['crowd_count']:,} listeners",
        "",
        f"{context['crowd_count'] - len(context['listeners']):,} more listeners with "
        f"{context['args'].crowd_entries:,} entries each ({context['crowd_entries']:,} entries "
        f"in all; load average {', '.join(f'{v:.1f}' for v in context['load_before_crowd'])} "
        f"before they were added), then {small.name} measured again. The same plans and the "
        "same buffers mean the queries read only the listener's own rows and index pages.",
        "",
        f"| {small.name} | With {len(context['listeners'])} listeners | "
        f"With {context['crowd_count']:,} |",
        "| --- | --- | --- |",
        f"| Warm p95 | {ms(before['warm'].median_p95())} | "
        f"{ms(context['crowd_warm'].median_p95())} ({context['crowd_warm'].spread()}) |",
        f"| Custom range p95 | {ms(before['custom'].median_p95())} | "
        f"{ms(context['crowd_custom'].median_p95())} ({context['crowd_custom'].spread()}) |",
        f"| The year's summary computed | {context['small_plans']['total_ms']:.0f} ms | "
        f"{context['crowd_plans']['total_ms']:.0f} ms |",
    ]
    same = True
    for one, other in zip(before_plans, after_plans, strict=False):
        buffers = (one["hit"] + one["read"], other["hit"] + other["read"])
        plan_same = one["nodes"] == other["nodes"]
        nodes = "; ".join(dict.fromkeys(other["nodes"]))
        same = same and plan_same and buffers[0] == buffers[1]
        lines.append(
            f"| {one['query']}: time, buffers | {one['ms']:.1f} ms, {buffers[0]} | "
            f"{other['ms']:.1f} ms, {buffers[1]}, "
            f"{'same plan' if plan_same else 'other plan: ' + nodes} |"
        )
    if len(before_plans) != len(after_plans):
        same = False
    if context["crowd_warm"].median_p95() > TARGET_WARM:
        missed.append(f"warm p95 among {context['crowd_count']} listeners")
    scans = sorted({node for plan in after_plans for node in plan["nodes"] if "Seq Scan" in node})
    lines += [
        "",
        "Every query the same plan and the same buffers: "
        + ("**yes**." if same else "**no** (see the rows above)."),
    ]
    if not same:
        lines += [
            "",
            "A plan that changes with the tables' size is PostgreSQL choosing anew from new "
            "statistics (for example looking the listener's artists and albums up by primary "
            "key, one per item, instead of reading the listener's rows by `user_id`: more "
            "buffers, each a page of the listener's own rows or of an index). What would be a "
            "per-listener cost is a sequential scan of a table every listener shares: "
            + (
                "there is none among these plans."
                if not scans
                else "**these plans have one**: " + "; ".join(scans) + "."
            ),
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["explain"]:
        user_id, zone_name, *period = argv[1:]
        start, end = period if period else (None, None)
        print(json.dumps(explain(int(user_id), zone_name, start, end)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.history_pages", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="warm, custom and cold rounds")
    parser.add_argument("--big", type=int, default=500_000, help="entries of the big history")
    parser.add_argument("--big-tracks", type=int, default=40_000)
    parser.add_argument("--small", type=int, default=50_000, help="entries of the four others")
    parser.add_argument("--small-tracks", type=int, default=10_000)
    parser.add_argument("--crowd", type=int, default=1000, help="listeners in the last step")
    parser.add_argument("--crowd-entries", type=int, default=1000)
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print only, leave the docs alone"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
