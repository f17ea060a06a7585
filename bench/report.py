"""What `make bench` and `make loadtest` share: percentiles, the machine, the cache,
and their sections of docs/benchmarks.md."""

from __future__ import annotations

import functools
import math
import os
import platform
import re
import threading
import time
from pathlib import Path

import psycopg

from devtools.stack import BASE_DIR, Stack

DOC = BASE_DIR / "docs" / "benchmarks.md"
# Euterpe's settings behind the connection budget's arithmetic.
BUDGET_SETTINGS = (
    "WEB_DYNOS",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
    "DATABASE_POOL_MAX_SIZE",
    "DATABASE_RESERVED_CONNECTIONS",
    "DATABASE_PEAK_CONNECTIONS",
    "DATABASE_CONNECTION_BUDGET",
)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def machine() -> str:
    """CPUs, CPU model, RAM and Python, as the benchmark pages report them."""
    cpu = platform.processor() or platform.machine()
    ram = "RAM unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        pass
    cpus = len(os.sched_getaffinity(0))
    return f"{cpus} CPUs ({cpu}), {ram}, Python {platform.python_version()}"


class ConnectionSampler(threading.Thread):
    """Counts Euterpe's connections (``application_name=euterpe``) to the stack's
    database every ``interval`` seconds, through a PostgreSQL restart too."""

    def __init__(self, stack: Stack, interval: float):
        super().__init__(daemon=True)
        self.stack = stack
        self.interval = interval
        self.connections: list[tuple[float, int]] = []  # (monotonic time, count)
        self.stopping = threading.Event()

    def run(self) -> None:
        # Bounded: one sample per interval until stopped.
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.stack.database_url, autocommit=True) as conn:
                    while not self.stopping.is_set():
                        count = conn.execute(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'euterpe' AND datname = current_database()"
                        ).fetchone()[0]
                        self.connections.append((time.monotonic(), count))
                        self.sample_more()
                        self.stopping.wait(self.interval)
            except psycopg.Error:
                # The server is restarting: try again shortly.
                self.stopping.wait(0.2)

    def sample_more(self) -> None:
        """What a subclass samples beside the connections."""

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int:
        return max((c for t, c in self.connections if start <= t < end), default=0)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


@functools.cache
def _cache_table(stack: Stack) -> str:
    """The stack's cache table, schema-qualified, as its settings name it."""
    names = stack.django_settings("DATABASE_SCHEMA", "CACHE_TABLE")
    return f'"{names["DATABASE_SCHEMA"]}"."{names["CACHE_TABLE"]}"'


def clear_cache(stack: Stack) -> None:
    """Empty Euterpe's cache table, so that the next views ask Spotify."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {_cache_table(stack)}")


def write_section(heading: str, text: str) -> None:
    """Replace (or add) the ``heading`` section of docs/benchmarks.md, keeping the others."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        current = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        current = current.rstrip("\n") + "\n\n" + text
    DOC.write_text(current.rstrip("\n") + "\n")
