"""A cold page's cache write: Euterpe's one-statement set_many against Django's.

    python -m bench.cache_writes [--writes 200]   (DJANGO_SETTINGS_MODULE and DATABASE_URL set)

`make bench` runs it in the stack's environment (``measure(stack)``), on the
bench's database, so that euterpe_site/cache_backend.py keeps its set_many
only while this shows a gain. Both sides are Euterpe's cache (same format, same
one-key writes); "django" is the set_many it would inherit without the
override: one set() after another. Each write stores five new keys holding
entries the size of a cold page's packed sections; the two alternate, write by
write, so that other work on the machine weighs on both alike. Prints one JSON
line of per-write times in seconds.
"""

import argparse
import json
import os
import sys
import time

# Five sections' packed entries, about as large as a demo listener's (zlib-compressed HTML).
ENTRY_SIZES = (900, 6_000, 5_000, 7_000, 4_000)


def _time_writes(writes: int) -> dict[str, list[float]]:
    import django

    django.setup()
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache

    cache = caches["default"]

    def inherited_set_many(entries, timeout):
        return super(DjangoDatabaseCache, cache).set_many(entries, timeout=timeout)

    times = {"upsert": [], "django": []}
    for number in range(writes):
        for name, set_many in (("upsert", cache.set_many), ("django", inherited_set_many)):
            entries = {
                f"bench:cache-write:{name}:{number}:{index}": {
                    "html_z": os.urandom(size),
                    "fetched_at": time.time(),
                }
                for index, size in enumerate(ENTRY_SIZES)
            }
            started = time.perf_counter()
            set_many(entries, timeout=300)
            times[name].append(time.perf_counter() - started)
            # Both swallow database errors: a write that failed would time nothing.
            if len(cache.get_many(list(entries))) != len(entries):
                raise RuntimeError(f"the {name} write did not store its entries")
            cache.delete_many(list(entries))
    return times


def measure(stack, writes: int = 200) -> dict[str, list[float]]:
    """Per-write times of both, measured in a process started like a web worker."""
    from devtools.processes import run_python

    env = {**stack.env, "DJANGO_SETTINGS_MODULE": "euterpe_site.settings"}
    code = "import sys; from bench.cache_writes import main; sys.exit(main())"
    result = run_python(code, env, "--writes", str(writes))
    if result.returncode != 0:
        raise RuntimeError(f"bench.cache_writes failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(_time_writes(max(1, min(args.writes, 10_000)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
