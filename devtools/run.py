"""`make run`: Euterpe on http://127.0.0.1:8000 with DEBUG on, and the worker
(`db_worker`, which runs history imports) beside it.

With no SPOTIFY_CLIENT_ID in the environment, the fake Spotify starts beside
Euterpe (demo mode, labelled "demo data"), so a fresh clone can log in as a demo
listener without a Spotify app. With SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET
set (and http://127.0.0.1:8000/callback registered in the Spotify dashboard),
Euterpe talks to the real Spotify.

In demo mode the history sync is on (HISTORY_SYNC_ENABLED, every 2 minutes unless
the environment says otherwise), the demo listeners play a track every 3 minutes,
and a round is queued every minute, as Heroku Scheduler would every 10.
"""

import os
import subprocess
import sys
import threading

from devtools import localdb

ADDRESS = "127.0.0.1:8000"
REDIRECT_URI = f"http://{ADDRESS}/callback"
# Demo mode: how often each demo listener plays a track, and a round is queued.
DEMO_PLAY_SECONDS = 180
DEMO_ROUND_SECONDS = 60


def _start_demo_spotify(env):
    from devtools.fakespotify.server import FakeSpotify

    port = int(env.get("FAKE_SPOTIFY_PORT", "8001"))
    fake = FakeSpotify(redirect_uris=[REDIRECT_URI], port=port).start()
    env.update(
        SPOTIFY_CLIENT_ID=fake.client_id,
        SPOTIFY_CLIENT_SECRET=fake.client_secret,
        SPOTIFY_AUTH_BASE_URL=fake.auth_base_url,
        SPOTIFY_API_BASE_URL=fake.api_base_url,
        SPOTIFY_REDIRECT_URI=REDIRECT_URI,
        SPOTIFY_DEMO="true",
    )
    env.setdefault("HISTORY_SYNC_ENABLED", "true")
    env.setdefault("HISTORY_SYNC_INTERVAL_MINUTES", "2")
    fake.keep_listening(DEMO_PLAY_SECONDS)
    print(f"Demo mode: fake Spotify with demo listeners at {fake.base_url}", flush=True)
    return fake


def _queue_rounds(python, env, stop):
    """What Heroku Scheduler does with `sync_history`, every DEMO_ROUND_SECONDS."""
    while not stop.wait(DEMO_ROUND_SECONDS):
        subprocess.run(
            [python, "manage.py", "sync_history"], env=env, check=False, stdout=subprocess.DEVNULL
        )


def main():
    env = {**os.environ}
    env.setdefault("DEBUG", "true")
    env.setdefault("SPOTIFY_REDIRECT_URI", REDIRECT_URI)
    database_url, private_server = localdb.resolve()
    env["DATABASE_URL"] = database_url
    fake = None if env.get("SPOTIFY_CLIENT_ID") else _start_demo_spotify(env)
    python = sys.executable
    worker = None
    stop = threading.Event()
    try:
        subprocess.run([python, "manage.py", "migrate", "--noinput"], env=env, check=True)
        # The worker beside the web server, as the Procfile's worker: line runs it
        # (history imports); with DEBUG on it reloads on code changes too.
        subprocess.run([python, "manage.py", "sweep_imports"], env=env, check=True)
        worker = subprocess.Popen([python, "manage.py", "db_worker", "--interval", "1"], env=env)
        if fake is not None:
            threading.Thread(target=_queue_rounds, args=(python, env, stop), daemon=True).start()
        print(f"Euterpe: open http://{ADDRESS}/ (Ctrl-C stops)", flush=True)
        return subprocess.call([python, "manage.py", "runserver", ADDRESS], env=env)
    except subprocess.CalledProcessError as error:
        return error.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        if fake is not None:
            fake.stop()
        if private_server is not None:
            private_server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
