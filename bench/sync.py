"""`make bench`'s history sync: one round for many opted-in listeners on the real worker.

    python -m devtools.localdb run -- python -m bench.sync [--listeners 1000] [--latency 0.1]

Through ``devtools.stack`` (production settings, the Procfile's worker, the fake
Spotify answering every call after ``--latency`` seconds): ``--listeners`` generated
listeners get tokens from the fake and opt in (half of them with an access token
about to expire, as a 30-minute interval finds them), then `manage.py sync_history`
queues one round and the stack's worker runs it. Measured: Spotify calls in the
round (the fake's counters: recently played and token refreshes), its duration (the
round's own report), the most calls the fake saw in flight at once, and the entries
added. Replaces the "History sync benchmark" section of docs/benchmarks.md (machine,
date, load average) and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import psycopg

from bench import report
from devtools.stack import BASE_DIR, Stack

SECTION = "## History sync benchmark"
PATH = "/v1/me/player/recently-played"
ROUND_TIMEOUT = 1800

SETUP = """
import django, json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "euterpe_site.settings")
django.setup()
from datetime import timedelta
import requests
from django.contrib.auth import get_user_model
from django.utils import timezone
from accounts.models import SpotifyToken
from accounts.tokens import save_login_tokens
from listening_history.models import SyncState

fake, redirect, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
session = requests.Session()
users = get_user_model()
for position, name in enumerate(names):
    answer = session.post(f"{fake}/_control/authorize_code",
                          json={"listener": name, "redirect_uri": redirect}, timeout=10)
    code = answer.json()["code"]
    grant = session.post(f"{fake}/api/token", timeout=10, auth=(sys.argv[4], sys.argv[5]),
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": redirect}).json()
    user = users.objects.create_user(username=name)
    save_login_tokens(user, access_token=grant["access_token"],
                      refresh_token=grant["refresh_token"], expires_in=grant["expires_in"])
    if position % 2:
        SpotifyToken.objects.filter(user=user).update(expires_at=timezone.now())
    SyncState.objects.create(user=user, opted_in=True, opted_in_at=timezone.now())
print(len(names))
"""


def load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def manage(stack: Stack, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=stack.env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_for_round(stack: Stack) -> dict:
    deadline = time.monotonic() + ROUND_TIMEOUT
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT status, return_value FROM euterpe.django_tasks_database_dbtaskresult "
                "WHERE task_path LIKE %s ORDER BY enqueued_at DESC LIMIT 1",
                ["%sync_round"],
            ).fetchone()
            if row and row[0] in ("SUCCESSFUL", "FAILED"):
                if row[0] != "SUCCESSFUL":
                    tail = stack.worker_log.read_text()[-4000:]
                    raise SystemExit(f"the round failed:\n{tail}")
                return row[1]
            time.sleep(0.5)  # polling the task's row until it finishes, bounded above
    raise SystemExit("the round did not finish in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync")
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    load_before = load()
    with Stack(listeners=args.listeners, env={"HISTORY_SYNC_ENABLED": "true"}) as stack:
        listeners = stack.fake("listeners", method="GET")["listeners"]
        names = [name for name in listeners if name.startswith("listener-")][: args.listeners]
        manage(
            stack,
            "-c",
            SETUP,
            stack.fake_url,
            stack.env["SPOTIFY_REDIRECT_URI"],
            json.dumps(names),
            stack.env["SPOTIFY_CLIENT_ID"],
            stack.env["SPOTIFY_CLIENT_SECRET"],
        )
        stack.fake("reset_counters")
        stack.fake("latency", {"seconds": args.latency})
        queued = manage(stack, "manage.py", "sync_history")
        assert "queued" in queued, queued
        result = wait_for_round(stack)
        calls = stack.fake_calls(PATH)
        refreshes = stack.fake_calls("/api/token")
        peak = stack.fake("max_concurrency", {"path": PATH}, method="GET")["max_concurrency"]
        peak_all = stack.fake("max_concurrency", {}, method="GET")["max_concurrency"]
    load_after = load()
    rows = [
        (
            "Calls to recently played",
            f"{calls} ({calls / max(1, len(names)):.2f} per listener)",
            f"≤ {len(names)}",
            calls <= len(names),
        ),
        ("Token refreshes", str(refreshes), f"≤ {len(names)}", refreshes <= len(names)),
        (
            "Round duration (the round's own report)",
            f"{result['seconds']:.1f} s",
            "(information)",
            True,
        ),
        (
            "Peak calls in flight (the fake's count; all paths)",
            f"{peak} recently played, {peak_all} in all (round's own count: "
            f"{result['peak_in_flight']})",
            "≤ 4",
            peak_all <= 4,
        ),
        (
            "Listeners synced, entries added",
            f"{result['listeners']}, {result['added']}",
            f"{len(names)}",
            result["listeners"] == len(names),
        ),
        ("Errors, pauses", f"{result['errors']}, {result['paused']}", "0, 0", not result["errors"]),
    ]
    text = "\n".join(
        [
            SECTION,
            "",
            f"Run `make bench` ({started:%Y-%m-%d %H:%M} UTC) on {report.machine()}; load "
            f"average {load_before} at the start, {load_after} at the end.",
            f"Command: `python -m bench.sync --listeners {args.listeners} --latency "
            f"{args.latency}`. {len(names)} generated listeners opted in, half of them with an "
            "access token about to expire; `manage.py sync_history` queued one round and the "
            "Procfile's worker ran it against the fake Spotify answering every call after "
            f"{args.latency * 1000:.0f} ms (first sync of each listener: 50 plays each). "
            "Client, worker, database and fake share the machine.",
            "",
            "| Measure | Result | Target | Met |",
            "| --- | --- | --- | --- |",
            *(f"| {a} | {b} | {c} | {'yes' if d else 'NO'} |" for a, b, c, d in rows),
            "",
        ]
    )
    print(text)
    report.write_section(SECTION, text)
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
