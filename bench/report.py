"""What `make bench` and `make loadtest` share: percentiles, the machine, the cache,
and their sections of docs/benchmarks.md."""

from __future__ import annotations

import functools
import math
import os
import platform
import re
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
