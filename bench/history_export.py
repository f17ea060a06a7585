"""`make bench`: a listener's whole history exported as CSV and JSON through the real views.

    python -m devtools.localdb run -- python -m bench.history_export [--entries 500000]

Through ``devtools.stack`` (gunicorn as the Procfile starts it, production settings, plain HTTP
behind a simulated Heroku router), with one gunicorn worker (``WEB_CONCURRENCY=1``) so that the
process serving the download is known; a download is served by one worker thread whatever their
number. ``devtools.history_seed`` writes two generated histories straight into the stack's
database: ``alice`` with a tenth of ``--entries`` and ``bob`` with ``--entries``. Each listener,
logged in through the OAuth flow, downloads ``/history/export.csv`` and ``/history/export.json``
(the smaller first, which also warms the worker up); the client reads the body as it comes and
counts its bytes and entries.

Measured per download: the time to the first byte and to the last, and the serving worker's RSS
before and at its peak (the kernel's high-water mark, ``VmHWM``, reset through
``/proc/<pid>/clear_refs`` before each download, so the peak is exact and not sampled). Memory is
flat when the big history's peak is no higher than the small one's plus a margin: what grows is
the chunk (5,000 entries), never the history.

It prints a table, replaces the "History export" section of docs/benchmarks.md with it and exits
1 if a target is missed. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import report
from devtools.stack import BASE_DIR, Stack

SECTION = "## History export"
TARGET_SECONDS = 10.0
# Flat: the big download's peak RSS may pass the small one's by this much at most (the
# allocator's noise, a chunk's rows being a little longer); growing with the history would
# pass it by far.
FLAT_MARGIN_MB = 20.0
COMMAND = "python -m devtools.localdb run -- python -m bench.history_export"


@dataclass
class Download:
    listener: str
    entries: int
    kind: str
    seconds: float
    first_byte: float
    size: int
    counted: int
    rss_before_mb: float
    rss_peak_mb: float
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.counted == self.entries


def seed(stack: Stack, name: str, entries: int) -> None:
    """devtools.history_seed in the stack's own environment (its database, its settings)."""
    result = subprocess.run(
        [sys.executable, "-m", "devtools.history_seed", name, "--entries", str(entries)],
        cwd=BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0 or f": {entries} entries" not in result.stdout:
        raise SystemExit(f"seeding {name} failed:\n{result.stdout}{result.stderr}")


def gunicorn_worker(stack: Stack) -> int:
    """The pid of the one gunicorn worker (the master's only child)."""
    master = stack.gunicorn_pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if len(children) == 1:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit(f"gunicorn {master} does not have exactly one worker")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} for {pid}")


def download(browser, stack: Stack, worker: int, listener: str, entries: int, kind: str):
    # Reset the worker's high-water mark to its current RSS (Linux: "5" > clear_refs).
    Path(f"/proc/{worker}/clear_refs").write_text("5")
    before = _status_mb(worker, "VmRSS")
    started = time.perf_counter()
    first_byte = None
    size = newlines = 0
    with browser.get(stack.url(f"/history/export.{kind}"), stream=True, timeout=120) as response:
        for piece in response.iter_content(chunk_size=1 << 16):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            size += len(piece)
            newlines += piece.count(b"\n")
        seconds = time.perf_counter() - started
        status = response.status_code
    # The stream has ended, so has the view: the high-water mark holds its peak.
    peak = _status_mb(worker, "VmHWM")
    # CSV: a header line, then an entry a line (no generated name holds a newline).
    # JSON: "[", an entry a line, "]".
    counted = newlines - 1 if kind == "csv" else newlines - 2
    return Download(
        listener,
        entries,
        kind,
        seconds,
        first_byte or seconds,
        size,
        counted,
        before,
        peak,
        status,
    )


def run(args) -> int:
    load_at_start = os.getloadavg()
    small_entries = max(1, args.entries // 10)
    print("Starting the stack (one gunicorn worker) ...", flush=True)
    with Stack(env={"WEB_CONCURRENCY": "1"}) as stack:
        browsers = {name: stack.login(name) for name in ("alice", "bob")}
        print(f"Seeding alice ({small_entries:,}) and bob ({args.entries:,}) ...", flush=True)
        seed(stack, "alice", small_entries)
        seed(stack, "bob", args.entries)
        worker = gunicorn_worker(stack)
        downloads = []
        for kind in ("csv", "json"):
            for name, entries in (("alice", small_entries), ("bob", args.entries)):
                print(f"{name}: /history/export.{kind} ...", flush=True)
                downloads.append(download(browsers[name], stack, worker, name, entries, kind))
    load_at_end = os.getloadavg()

    rows = []
    for kind in ("csv", "json"):
        small, big = (d for d in downloads if d.kind == kind)
        for item in (small, big):
            rows.append(
                (
                    f"{kind.upper()}, {item.entries:,} entries ({item.size / 1e6:.0f} MB)",
                    f"{item.seconds:.2f} s ({item.entries / item.seconds:,.0f} entries/s), "
                    f"first byte {report.ms(item.first_byte)}",
                    f"RSS {item.rss_before_mb:.0f} MB before, peak {item.rss_peak_mb:.0f} MB",
                    f"< {TARGET_SECONDS:g} s" if item is big else "(information)",
                    item.ok and (item is small or item.seconds < TARGET_SECONDS),
                )
            )
        rows.append(
            (
                f"{kind.upper()}: memory flat",
                f"peak {big.rss_peak_mb:.0f} MB for {big.entries:,} entries, "
                f"{small.rss_peak_mb:.0f} MB for {small.entries:,}",
                "",
                f"≤ the smaller's + {FLAT_MARGIN_MB:g} MB",
                big.rss_peak_mb <= small.rss_peak_mb + FLAT_MARGIN_MB,
            )
        )
    table = render(rows, args, load_at_start, load_at_end)
    print()
    print(table)
    for item in downloads:
        if not item.ok:
            print(
                f"error: {item.listener} {item.kind}: status {item.status}, "
                f"{item.counted:,} entries counted of {item.entries:,}",
                file=sys.stderr,
            )
    if args.write:
        report.write_section(SECTION, table)
        print(f"Written to {report.DOC.relative_to(BASE_DIR)}")
    missed = [row[0] for row in rows if not row[4]]
    if missed:
        print("Missed targets: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


def render(rows, args, load_at_start, load_at_end) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    start, end = (", ".join(f"{v:.2f}" for v in load) for load in (load_at_start, load_at_end))
    lines = [
        SECTION,
        "",
        f"Run `{COMMAND}` (in `make bench`; {today}) on {report.machine()}; "
        f"load average {start} at the start, {end} at the end.",
        "gunicorn as the Procfile starts it with `WEB_CONCURRENCY=1` (one worker of "
        "`WEB_THREADS` threads, DEBUG off, plain HTTP behind a simulated router), so the "
        "serving process is known; histories from `devtools.history_seed` (tracks, episodes, "
        "audiobook chapters, unknown entries, with platforms, countries, reasons and flags); "
        "the client reads each download as it streams, on the same machine. The time is the "
        "client's, to the last byte; RSS is the serving worker's, its peak the kernel's "
        "high-water mark (`VmHWM`, reset before each download).",
        "",
        "| Download | Time | Serving worker's memory | Target | Met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for measure, result, memory, target, met in rows:
        lines.append(
            f"| {measure} | {result} | {memory} | {target} | {'yes' if met else '**NO**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_export", description=__doc__)
    parser.add_argument("--entries", type=int, default=500_000, help="the big history's entries")
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="print only, leave the docs alone"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
