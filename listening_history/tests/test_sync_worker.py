"""The sync on a real `manage.py db_worker`, against the fake Spotify over real HTTP."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from accounts.spotify_backoff import BACKOFF_KEY
from listening_history import services, sync, tasks
from listening_history.models import Import, Source
from listening_history.tests.helpers import extended, json_upload, run_import, stored
from listening_history.tests.sync_support import (
    RECENTLY_PLAYED,
    entries,
    iso,
    make_due,
    moment,
    synced,
    synced_listener,
)
from listening_history.tests.test_worker import Worker, _wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sync_on(settings):
    settings.HISTORY_SYNC_ENABLED = True
    cache.delete(BACKOFF_KEY)
    yield
    cache.delete(BACKOFF_KEY)


def worker_env(fake):
    return {
        "SPOTIFY_API_BASE_URL": fake.api_base_url,
        "SPOTIFY_AUTH_BASE_URL": fake.auth_base_url,
        "SPOTIFY_CLIENT_ID": fake.client_id,
        "SPOTIFY_CLIENT_SECRET": fake.client_secret,
        "HISTORY_SYNC_ENABLED": "true",
    }


def sync_history():
    out = StringIO()
    call_command("sync_history", stdout=out)
    return out.getvalue()


def test_a_scheduled_round_runs_on_the_worker_once(fake_spotify, sync_on, tmp_path):
    users = [synced_listener(fake_spotify, name) for name in ("alice", "bob", "carol")]

    assert "Sync round queued" in sync_history()
    # Heroku Scheduler firing twice: the second finds the first round waiting.
    assert "already queued or running; not queued again" in sync_history()
    output = Worker(tmp_path / "worker.log", "--batch", env=worker_env(fake_spotify)).finish()

    rounds = DBTaskResult.objects.filter(task_path=tasks.sync_round.module_path)
    assert [r.status for r in rounds] == ["SUCCESSFUL"], output
    report = rounds.get().return_value
    assert (report["state"], report["listeners"], report["calls"]) == ("done", 3, 3), output
    assert report["added"] == sum(len(synced(user)) for user in users) > 0
    assert fake_spotify.calls(RECENTLY_PLAYED) == 3
    # Done, so the next Scheduler run queues the next round.
    assert "Sync round queued" in sync_history()


def test_overlapping_rounds_and_an_import_of_the_same_plays_store_each_play_once(
    fake_spotify, sync_on, tmp_path
):
    alice = synced_listener(fake_spotify, "alice")
    # Another account of Euterpe's on alice's Spotify, to compare with; logged in now
    # (the fake's older plays count back from the latest login).
    reference = synced_listener(fake_spotify, "alice", username="reference", opt_in=False)
    others = [synced_listener(fake_spotify, name) for name in ("bob", "carol")]
    now = datetime.now(UTC)
    plays = fake_spotify.add_plays("alice", played_at=[now - timedelta(minutes=m) for m in (8, 4)])
    export = [
        extended(
            iso(moment(play["played_at"])),  # Spotify's played_at at the end of the play
            play["duration_ms"] - 2000,
            track=play["name"],
            artist=play["artist"],
            uri=play["uri"],
        )
        for play in plays
    ]
    fake_spotify.set_latency(0.2)
    # Two rounds queued at once (as two workers would find them), and alice's import
    # of the same plays, all on two workers.
    services.start_import(user=alice, files=[json_upload("a.json", export)])
    tasks.sync_round.enqueue()
    tasks.sync_round.enqueue()
    env = worker_env(fake_spotify)
    workers = [Worker(tmp_path / f"worker-{n}.log", env=env) for n in (1, 2)]
    rounds = DBTaskResult.objects.filter(task_path=tasks.sync_round.module_path)
    try:
        # Not --batch: an import that found a sync writing for alice waits 5 s as a
        # delayed task, which a --batch worker would leave behind.
        _wait_for(
            lambda: (
                Import.objects.get(user=alice).state == Import.State.DONE
                and rounds.filter(status__in=["SUCCESSFUL", "FAILED"]).count() == 2
            ),
            "the import and both rounds",
            extra=lambda: [worker.log_path.read_text() for worker in workers],
        )
    finally:
        for worker in workers:
            worker.stop()

    reports = [r.return_value for r in rounds]
    assert sorted(r["state"] for r in reports) in (["busy", "done"], ["done", "done"]), reports
    # Never two calls for one listener (alice's again only if the import held her lock).
    assert fake_spotify.calls(RECENTLY_PLAYED) <= 4
    # Whatever the order on the workers, once every round has reached alice...
    fake_spotify.set_latency(0)
    make_due(alice)
    sync.run_round()
    # ... her history is what one import followed by one sync stores.
    run_import(reference, json_upload("a.json", export))
    sync.opt_in(reference)
    sync.run_round()
    assert stored(alice) == stored(reference)
    new = [row for row in entries(alice) if row[0] >= now - timedelta(minutes=10)]
    assert [row[2] for row in new] == [Source.EXTENDED, Source.EXTENDED]
    assert all(synced(user) for user in others)
