"""`make bench`: history imports through the upload page and a real worker, and their size.

    python -m devtools.localdb run -- python -m bench.history_import [--entries 250000]

Through ``devtools.stack`` (gunicorn as the Procfile's ``web:`` line starts it,
production settings, and the Procfile's ``worker:`` line: ``manage.py
db_worker``), with exports from ``devtools.demo_export`` (extended history only,
``--files`` files in one ZIP, no broken entries):

1. ``alice`` uploads an export of ``--entries / 10`` entries; the worker's peak
   RSS (``VmHWM``) afterwards is its peak at that size.
2. ``bob`` uploads ``--entries`` entries: the upload request's time, upload to
   ``done`` (from sending the request to the status JSON saying ``done``, polled
   every 50 ms), the worker's peak RSS at that size.
3. ``bob`` uploads the same ZIP again (every entry a duplicate): upload to ``done``.
4. ``carol`` uploads the rest up to ``2 x --entries`` (another seed) while
   ``--threads`` clients request alice's (warm) dashboard: its p95 then,
   against the same clients for the same time before the import.
5. Size, after ``VACUUM ANALYZE`` of Euterpe's tables: the entries table with its indexes
   (``pg_total_relation_size``) and the whole ``euterpe`` schema, per entry.

It prints a table, replaces the "History import" section of docs/benchmarks.md
and exits 1 if a target is missed. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import threading
import time
from pathlib import Path

import psycopg

from bench import report
from bench.report import ms, percentile
from devtools import demo_export
from devtools.stack import BASE_DIR, Stack

SECTION = "## History import"
IMPORT_TIMEOUT = 600
MB = 1024 * 1024


class Failed(RuntimeError):
    pass


def worker_pid(stack: Stack) -> int:
    """The db_worker's pid: the Procfile's line execs it in place of its shell."""
    pid = stack._worker.pid
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"db_worker" in cmdline:
            return pid
        time.sleep(0.2)
    raise Failed("the worker did not start db_worker")


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM) in bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024


def wait_until_idle(stack: Stack) -> float:
    """Wait until the worker has no import task left (the summaries rebuilt after an import
    run in the same task, after the import says ``done``); returns the seconds waited."""
    started = time.perf_counter()
    deadline = time.monotonic() + IMPORT_TIMEOUT
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM euterpe.django_tasks_database_dbtaskresult "
                "WHERE status IN ('READY', 'RUNNING') AND task_path LIKE %s",
                ["%import_history"],
            ).fetchone()[0]
            if not busy:
                return time.perf_counter() - started
            time.sleep(0.05)
    raise Failed(f"the worker was still busy after {IMPORT_TIMEOUT} s")


def csrf_token(browser, stack: Stack) -> str:
    page = browser.get(stack.url("/history/import"), timeout=30)
    page.raise_for_status()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if not match:
        raise Failed("no CSRF token on /history/import")
    return match.group(1)


def upload(browser, stack: Stack, data: bytes) -> tuple[float, float, dict]:
    """(request seconds, seconds until done, final status) of one upload."""
    token = csrf_token(browser, stack)
    started = time.perf_counter()
    response = browser.post(
        stack.url("/history/import"),
        data={"csrfmiddlewaretoken": token},
        files={"files": ("my_spotify_data.zip", data, "application/zip")},
        headers={"Origin": stack.base_url, "Referer": stack.url("/history/import")},
        allow_redirects=False,
        timeout=60,
    )
    request_time = time.perf_counter() - started
    if response.status_code != 303:
        raise Failed(f"upload answered {response.status_code}: {response.text[:300]}")
    status_url = stack.url(response.headers["Location"] + ".json")
    deadline = time.monotonic() + IMPORT_TIMEOUT
    while time.monotonic() < deadline:
        status = browser.get(status_url, timeout=30).json()
        if status["state"] in ("done", "failed", "cancelled"):
            took = time.perf_counter() - started
            if status["state"] != "done":
                raise Failed(f"import ended {status['state']}: {status['errors']}")
            return request_time, took, status
        time.sleep(0.05)
    raise Failed(f"no import ended within {IMPORT_TIMEOUT} s")


class Dashboard(threading.Thread):
    """``threads`` clients requesting a warm dashboard until stopped; latencies kept."""

    def __init__(self, stack: Stack, login, threads: int):
        super().__init__(daemon=True)
        self.stack, self.login, self.threads = stack, login, threads
        self.latencies: list[float] = []
        self.errors = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        def client() -> None:
            browser = self.stack.browser(client_ip=self.login.client_ip)
            browser.cookies.update(self.login.cookies)
            while not self.stopping.is_set():
                started = time.perf_counter()
                response = browser.get(self.stack.url("/"), timeout=30)
                self.latencies.append(time.perf_counter() - started)
                self.errors += response.status_code != 200

        clients = [threading.Thread(target=client, daemon=True) for _ in range(self.threads)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


def sizes(stack: Stack) -> dict:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        # As autovacuum would leave them: the staged entries and upload chunks that the
        # imports deleted are dead rows until a vacuum (Euterpe's tables only).
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'euterpe'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'VACUUM ANALYZE euterpe."{table}"')
        largest = conn.execute(
            """
            SELECT c.relname, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'euterpe' AND c.relkind = 'r'
            ORDER BY 2 DESC LIMIT 4
            """
        ).fetchall()
        entries = conn.execute("SELECT count(*) FROM euterpe.listening_history_entry").fetchone()[0]
        table = conn.execute(
            "SELECT pg_total_relation_size('euterpe.listening_history_entry')"
        ).fetchone()[0]
        heap = conn.execute(
            "SELECT pg_relation_size('euterpe.listening_history_entry')"
        ).fetchone()[0]
        schema = conn.execute(
            """
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'euterpe' AND c.relkind IN ('r', 'm')
            """
        ).fetchone()[0]
        lookups = conn.execute(
            """
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'euterpe' AND c.relkind = 'r'
              AND c.relname IN ('listening_history_item', 'listening_history_artist',
                                'listening_history_album', 'listening_history_term')
            """
        ).fetchone()[0]
    return {
        "entries": entries,
        "table": table,
        "heap": heap,
        "schema": schema,
        "lookups": lookups,
        "largest": largest,
    }


def run(args) -> int:
    load_at_start = os.getloadavg()
    small = max(1, args.entries // 10)
    print(
        f"Generating exports ({small:,}, {args.entries:,} and {args.entries - small:,} entries) ..."
    )
    options = {"files": args.files, "account_days": 0, "bad": 0}
    export_small = demo_export.generate(entries=small, seed=101, **{**options, "files": 2})
    export = demo_export.generate(entries=args.entries, seed=102, **options)
    export_rest = demo_export.generate(entries=args.entries - small, seed=103, **options)
    print(f"Starting the stack; ZIP of {args.entries:,} entries: {len(export.data) / MB:.1f} MB")
    with Stack() as stack:
        pid = worker_pid(stack)
        alice, bob, carol = (stack.login(name) for name in ("alice", "bob", "carol"))

        print(f"alice: {small:,} entries ...", flush=True)
        small_request, small_done, _ = upload(alice, stack, export_small.data)
        wait_until_idle(stack)
        rss_small = peak_rss(pid)

        print(f"bob: {args.entries:,} entries ...", flush=True)
        request_time, done_time, first = upload(bob, stack, export.data)
        summaries_time = wait_until_idle(stack)
        rss_big = peak_rss(pid)

        print("bob: the same export again ...", flush=True)
        _, again_time, again = upload(bob, stack, export.data)
        wait_until_idle(stack)

        print(f"carol: {len(export_rest.data) / MB:.1f} MB while alice views her dashboard ...")
        alice.get(stack.url("/"), timeout=30)  # fills the cache: warm views from here
        idle = Dashboard(stack, alice, args.threads)
        idle.start()
        time.sleep(args.idle_seconds)
        idle.stop()
        busy = Dashboard(stack, alice, args.threads)
        busy.start()
        _, rest_time, rest = upload(carol, stack, export_rest.data)
        busy.stop()
        wait_until_idle(stack)
        rss_all = peak_rss(pid)
        size = sizes(stack)
        worker_log = stack.worker_log.read_text()
    rate = args.entries / done_time
    per_entry = size["table"] / size["entries"]
    rows = [
        (
            f"Upload request, {args.entries:,} entries ({args.files} files, "
            f"{len(export.data) / MB:.1f} MB ZIP)",
            f"{request_time:.2f} s",
            "≤ 2 s",
            request_time <= 2,
        ),
        (
            "Upload to `done`",
            f"{done_time:.1f} s ({rate:,.0f} entries/s; added {first['added']:,})",
            "≤ 5 s",
            done_time <= 5,
        ),
        (
            "Then the summaries (precomputed periods), still in the import's task",
            f"{summaries_time:.1f} s more",
            "(information)",
            True,
        ),
        (
            "The same export again (all duplicates)",
            f"{again_time:.1f} s (duplicates {again['duplicates']:,}, added {again['added']})",
            "≤ 3 s",
            again_time <= 3 and again["added"] == 0,
        ),
        (
            "Worker peak RSS (VmHWM of `db_worker`)",
            f"{rss_small / MB:.0f} MB after {small:,} entries, {rss_big / MB:.0f} MB after "
            f"{args.entries:,}, {rss_all / MB:.0f} MB at the end",
            "flat, ≤ 300 MB",
            rss_all <= 300 * MB and rss_big <= rss_small * 1.5,
        ),
        (
            f"Warm dashboard, {args.threads} clients: p95 before / during an import of "
            f"{rest['entries']:,} entries",
            f"{ms(percentile(idle.latencies, 95))} ({len(idle.latencies)} views in "
            f"{args.idle_seconds:g} s) / {ms(percentile(busy.latencies, 95))} "
            f"({len(busy.latencies)} views in {rest_time:.0f} s); errors "
            f"{idle.errors + busy.errors}",
            "(information)",
            idle.errors + busy.errors == 0,
        ),
        (
            f"Entries table with its index, {size['entries']:,} entries",
            f"{per_entry:.0f} bytes/entry ({size['table'] / MB:.1f} MB; heap alone "
            f"{size['heap'] / size['entries']:.0f})",
            "≤ 160 bytes/entry",
            per_entry <= 160,
        ),
        (
            "The whole `euterpe` schema",
            f"{size['schema'] / size['entries']:.0f} bytes/entry ({size['schema'] / MB:.1f} MB; "
            f"lookup tables {size['lookups'] / MB:.1f} MB; largest: "
            + ", ".join(f"`{name}` {bytes_ / MB:.1f} MB" for name, bytes_ in size["largest"])
            + ")",
            "(reported)",
            True,
        ),
        (
            f"Smaller import: {small:,} entries",
            f"request {small_request:.2f} s, upload to `done` {small_done:.1f} s",
            "(information)",
            True,
        ),
    ]
    table = render(rows, args, load_at_start)
    print()
    print(table)
    if args.write:
        report.write_section(SECTION, table)
        print(f"Written to {report.DOC.relative_to(BASE_DIR)}")
    missed = [row[0] for row in rows if not row[3]]
    if missed:
        print("Missed targets: " + "; ".join(missed), file=sys.stderr)
        if args.verbose:
            print(worker_log[-4000:], file=sys.stderr)
        return 1
    return 0


# Why "upload to done" misses 5 s: measured by hand, not by this script (dated).
PROFILE_NOTE = """\
Where an import's time goes (cProfile of `importer.run` in one process, 250,000 entries in 20
files, the local PostgreSQL, 2026-12-05, load average about 3-5 on this 2-CPU machine; 11.1 s
without the profiler, 15.9 s with it): reading the files in Python 9.3 s under the profiler
(`reader.parse_entry` 6.6 s, of which the item keys' MD5 1.3 s, times 1.0 s, texts 0.8 s; JSON
decoding 2.3 s), COPY's `write_row` 2.0 s, the SQL statements 2.7 s (the merge's insert into the
entries 0.9 s, the staged entries 0.7 s, the lookups 0.7 s), 20 commits 1.7 s; then the summaries
rebuilt after `done` 6.8 s (in the same task, so the worker's next task waits for it). Reading in
PostgreSQL instead was measured and not taken: `jsonb_array_elements` with the reader's checks
(every key's type, the time and duration forms, so that the rows stay exactly the reader's) cost
40 µs an entry (10 s for 250,000), `json_to_recordset` with text columns 6 µs but loses the JSON
types the reader's rules depend on (a number and a string read differently). What was taken: the
same export again is recognised by its bytes and not read (see the README); the worker polls
every second (`--interval 1`, was 2). The 5 s target needs the per-entry Python work gone (a
reader in C, or several worker processes per import), which is left open.
"""


# Why the entries table misses 160 bytes an entry since the artist and track pages (dated).
SIZE_NOTE = """\
The entries table's size, 2026-12-05: the rows take 77 bytes an entry, the primary key (listener,
time, item, duration) 35, and the index by item that the artist and track pages added
(`lh_entry_item`: item, time, including duration and listener; migration 0004) 56: 117 bytes an
entry before that index, 176 with it. Meeting 160 again means a narrower index for those pages
(without its INCLUDE columns, or a partial one), a choice for those pages, left open here.
"""


def render(rows, args, load_at_start) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    start, end = (", ".join(f"{v:.1f}" for v in load) for load in (load_at_start, os.getloadavg()))
    command = f"python -m bench.history_import --entries {args.entries} --files {args.files}"
    lines = [
        SECTION,
        "",
        f"Run `make bench` ({today}) on {report.machine()}; load average {start} at the start, "
        f"{end} at the end.",
        f"Command: `{command}`. gunicorn and `manage.py db_worker` as the Procfile starts them "
        "(production settings, plain HTTP behind a simulated router), the local PostgreSQL; "
        "exports from `devtools.demo_export` (extended history, one ZIP); client, server, worker "
        "and database share the machine. Times are the client's: from sending the upload to the "
        "status JSON (polled every 50 ms) saying `done`, the worker's poll interval included; "
        "each upload waits until the worker has finished the previous import's task (its "
        "summaries are rebuilt after `done`).",
        "",
        "| Measure | Result | Target | Met |",
        "| --- | --- | --- | --- |",
    ]
    for measure, result, target, met in rows:
        lines.append(f"| {measure} | {result} | {target} | {'yes' if met else '**NO**'} |")
    lines += ["", PROFILE_NOTE, SIZE_NOTE]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_import", description=__doc__)
    parser.add_argument("--entries", type=int, default=250_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="dashboard clients")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true", help="the worker's log on a miss")
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print only, leave the docs alone"
    )
    try:
        return run(parser.parse_args(argv))
    except Failed as error:
        print(f"bench.history_import: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
