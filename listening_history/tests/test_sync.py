"""The sync of recently played, round by round, over real HTTP to the fake Spotify."""

import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import SpotifyToken
from accounts.services import disconnect_listener
from accounts.spotify_backoff import BACKOFF_KEY, backoff_remaining
from accounts.tests.helpers import browser, log_in
from listening_history import sync, tasks
from listening_history.management.commands.sync_history import enqueue_round
from listening_history.models import Entry, Source, SyncedPlay, SyncState
from listening_history.tests.helpers import account, extended, json_upload, run_import, stored
from listening_history.tests.sync_support import (
    RECENTLY_PLAYED,
    entries,
    iso,
    make_due,
    moment,
    synced,
    synced_listener,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sync_on(settings):
    settings.HISTORY_SYNC_ENABLED = True
    cache.delete(BACKOFF_KEY)
    yield
    cache.delete(BACKOFF_KEY)


def test_a_round_adds_the_last_plays_then_only_what_came_after(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")

    first = sync.run_round()

    # Spotify keeps the last 50; the first sync takes them all, each a synced entry
    # whose ms_played is the track's length.
    assert (first.listeners, first.calls, first.added) == (1, 1, 50)
    rows = synced(alice)
    assert len(rows) == 50
    state = SyncState.objects.get(user=alice)
    assert state.last_added == 50 and state.last_run_at is not None
    assert state.cursor_ms == int(rows[-1][0].timestamp() * 1000)

    # Not due again before the interval.
    assert sync.run_round().calls == 0

    plays = fake_spotify.add_plays("alice", n=3)
    make_due(alice)
    second = sync.run_round()

    assert (second.calls, second.added) == (1, 3)
    new = synced(alice)[-3:]
    assert [(row[0], row[1], row[3], row[5]) for row in new] == [
        (moment(play["played_at"]), play["duration_ms"], play["name"], play["uri"])
        for play in plays
    ]
    assert SyncState.objects.get(user=alice).last_added == 3


def test_the_same_plays_read_by_two_rounds_are_stored_once(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    token = SpotifyToken.objects.get(user=alice).access_token
    import spotify_client

    plays = spotify_client.get_recently_played(token, limit=50).items

    assert sync.write_plays(alice.pk, plays) == 50
    assert sync.write_plays(alice.pk, plays) == 0
    assert len(synced(alice)) == 50


def _export_of(plays, *, at):
    """Extended entries for ``plays``: ``at`` 'end' puts played_at at the end of each
    imported entry (ts = played_at), 'start' at its start (ts = played_at + ms_played)."""
    result = []
    for play, where in zip(plays, at, strict=True):
        ms = play["duration_ms"] - 4321  # played a little less than the whole track
        played_at = moment(play["played_at"])
        end = played_at if where == "end" else played_at + timedelta(milliseconds=ms)
        result.append(
            extended(
                iso(end),
                ms,
                track=play["name"],
                artist=play["artist"],
                album=play["album"],
                uri=play["uri"],
            )
        )
    return result


@pytest.mark.django_db(transaction=True)
def test_synced_and_imported_plays_are_one_play_whatever_came_first(fake_spotify):
    # Two listeners of Euterpe reading the same Spotify account: one syncs before
    # importing, the other imports before syncing.
    sync_first = synced_listener(fake_spotify, "alice", username="sync-first")
    import_first = synced_listener(fake_spotify, "alice", username="import-first")
    sync.run_round()
    now = datetime.now(UTC)
    plays = fake_spotify.add_plays(
        "alice", played_at=[now - timedelta(minutes=m) for m in (9, 6, 3, 0)]
    )
    export = _export_of(plays[:3], at=["end", "start", "start"])
    # The last play only in the one-year account data: names as written there (case
    # and spaces differ), to the minute, the end of the play.
    last = plays[3]
    last_end = moment(last["played_at"]) + timedelta(milliseconds=last["duration_ms"] - 1000)
    account_data = [
        account(
            last_end.strftime("%Y-%m-%d %H:%M"),
            last["duration_ms"] - 1000,
            artist=f"  {last['artist'].upper()} ",
            track=last["name"].lower(),
        )
    ]
    files = lambda: [  # noqa: E731
        json_upload("Streaming_History_Audio_2026.json", export),
        json_upload("StreamingHistory_music_0.json", account_data),
    ]

    run_import(import_first, *files())
    make_due()
    assert sync.run_round().listeners == 2
    run_import(sync_first, *files())

    assert stored(sync_first) == stored(import_first)
    recent = [row for row in entries(sync_first) if row[0] >= now - timedelta(minutes=10)]
    assert sorted(row[2] for row in recent) == [Source.EXTENDED] * 3 + [Source.ACCOUNT_DATA]
    assert len(synced(sync_first)) == 50  # the plays from before, synced once


def test_a_play_the_export_does_not_have_stays_synced(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    sync.run_round()
    now = datetime.now(UTC)
    plays = fake_spotify.add_plays("alice", played_at=[now - timedelta(minutes=5)])
    # The same track, imported as played an hour earlier: another play.
    other = dict(plays[0], played_at=(now - timedelta(hours=1)).isoformat())
    run_import(alice, json_upload("a.json", _export_of([other], at=["end"])))
    make_due()

    assert sync.run_round().added == 1
    assert entries(alice)[-1][:3] == (
        moment(plays[0]["played_at"]),
        plays[0]["duration_ms"],
        Source.SYNC,
    )
    assert [row[2] for row in entries(alice) if row[3] == plays[0]["name"]].count(
        Source.EXTENDED
    ) == 1


def test_episodes_are_never_synced(fake_spotify):
    alice = synced_listener(fake_spotify, "alice", opt_in=False)
    body = {
        "items": [
            {
                "played_at": "2026-12-05T10:00:00.000Z",
                "track": {
                    "type": "episode",
                    "uri": "spotify:episode:abc",
                    "id": "abc",
                    "name": "An episode",
                    "duration_ms": 1800000,
                },
            }
        ],
        "cursors": None,
        "limit": 50,
        "next": None,
    }
    import json

    import spotify_client

    fake_spotify.answer_next(RECENTLY_PLAYED, body=json.dumps(body))
    token = SpotifyToken.objects.get(user=alice).access_token
    plays = spotify_client.get_recently_played(token).items
    sync.opt_in(alice)

    assert len(plays) == 1
    assert sync.write_plays(alice.pk, plays) == 0
    assert not Entry.objects.filter(user=alice).exists()


def test_a_revoked_refresh_token_pauses_the_sync_until_the_listener_logs_in_again(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    SpotifyToken.objects.filter(user=alice).update(expires_at=datetime.now(UTC))
    fake_spotify.revoke("alice")

    report = sync.run_round()

    assert report.paused == 1 and report.added == 0
    state = SyncState.objects.get(user=alice)
    assert state.paused == SyncState.Pause.REVOKED
    assert "Log in again" in state.last_error
    assert not SpotifyToken.objects.filter(user=alice).exists()  # discarded, as Spotify says
    make_due()
    assert sync.run_round().calls == 0  # paused: no call at all, however due

    # Their next visit asks them to log in again; a real login with Spotify.
    log_in(browser(), "alice")
    make_due()
    resumed = sync.run_round()

    assert resumed.added == 50
    state.refresh_from_db()
    assert (state.paused, state.last_error) == ("", "")


def test_a_listener_off_the_allow_list_is_paused_with_the_reason(fake_spotify):
    bob = synced_listener(fake_spotify, "bob")
    carol = synced_listener(fake_spotify, "carol")
    fake_spotify.set_allowed("bob", False)

    report = sync.run_round()

    assert (report.paused, report.listeners) == (1, 1)
    state = SyncState.objects.get(user=bob)
    assert state.paused == SyncState.Pause.NOT_ON_ALLOW_LIST
    assert "not among this app's users" in state.last_error
    assert synced(carol) and not synced(bob)


def test_a_429_stops_the_round_and_no_call_is_made_until_retry_after_ends(fake_spotify):
    users = [synced_listener(fake_spotify, name) for name in fake_spotify.add_listeners(6)]
    # The first call is refused; the three that left with it hang a while, so the
    # round has seen the 429 before any room opens for a fifth call.
    fake_spotify.fail_next(RECENTLY_PLAYED, status=429, retry_after=30)
    fake_spotify.hang_next(RECENTLY_PLAYED, n=3, seconds=4)

    first = sync.run_round()

    assert first.state == "rate_limited"
    assert first.calls == fake_spotify.calls(RECENTLY_PLAYED) == 4
    assert first.listeners == 3
    assert 0 < backoff_remaining() <= 30  # the dashboard's pages wait too
    not_synced = [user for user in users if not synced(user)]
    assert len(not_synced) == 3  # the refused one and the two never reached

    fake_spotify.reset_counters()
    make_due(*not_synced)
    during = sync.run_round()
    assert (during.state, during.calls, fake_spotify.calls(RECENTLY_PLAYED)) == (
        "rate_limited",
        0,
        0,
    )

    cache.set(BACKOFF_KEY, time.time() - 1, 60)  # Retry-After is over
    after = sync.run_round()
    assert (after.state, after.listeners) == ("done", 3)
    assert all(synced(user) for user in users)


def test_at_most_four_calls_are_in_flight(fake_spotify):
    users = [synced_listener(fake_spotify, name) for name in fake_spotify.add_listeners(10)]
    fake_spotify.set_latency(0.2)

    report = sync.run_round()

    assert report.listeners == 10
    assert fake_spotify.max_concurrency(RECENTLY_PLAYED) <= 4
    assert report.peak_in_flight <= 4
    assert all(len(synced(user)) for user in users)


def test_an_expired_access_token_is_refreshed_once(fake_spotify):
    synced_listener(fake_spotify, "alice")
    fake_spotify.expire_access_tokens("alice")

    report = sync.run_round()

    assert (report.added, report.calls) == (50, 3)  # 401, the refresh, the call again
    assert fake_spotify.calls("/api/token", "alice") >= 1


def test_a_listener_who_opted_out_is_not_synced_and_keeps_what_was_stored(fake_spotify):
    alice = synced_listener(fake_spotify, "alice")
    sync.run_round()
    sync.opt_out(alice)
    fake_spotify.add_plays("alice", n=2)
    make_due()

    assert sync.run_round().calls == 0
    assert len(synced(alice)) == 50


def test_nothing_runs_while_the_sync_is_off(fake_spotify, settings):
    synced_listener(fake_spotify, "alice")
    settings.HISTORY_SYNC_ENABLED = False

    assert sync.run_round().state == "off"
    assert fake_spotify.calls(RECENTLY_PLAYED) == 0


def test_synced_entries_older_than_the_retention_are_purged_and_imported_ones_stay(
    fake_spotify, settings
):
    settings.HISTORY_SYNC_RETENTION_DAYS = 30
    alice = synced_listener(fake_spotify, "alice")
    sync.run_round()
    old = datetime.now(UTC) - timedelta(days=40)
    run_import(alice, json_upload("old.json", [extended(iso(old), 200000, track="Old")]))
    Entry.objects.filter(user=alice, source=Source.SYNC).update(ts=F("ts") - timedelta(days=60))
    kept = stored(alice)

    assert sync.purge_synced(dry_run=True) == 50
    assert sync.purge_synced() == 50

    assert [row for row in stored(alice) if row[2] == Source.SYNC] == []
    assert [row for row in kept if row[2] != Source.SYNC] == stored(alice)


def _round_in_a_thread():
    """Run a round in a thread of its own (its own connection); (thread, result dict)."""
    result = {}

    def target():
        try:
            result["report"] = sync.run_round()
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def _wait_for(condition, what):
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["opt out", "disconnect"])
def test_nothing_is_written_for_a_listener_who_leaves_mid_round(fake_spotify, how):
    alice = synced_listener(fake_spotify, "alice")
    fake_spotify.hang_next(RECENTLY_PLAYED, seconds=60)
    thread, result = _round_in_a_thread()
    try:
        _wait_for(lambda: fake_spotify.calls(RECENTLY_PLAYED) == 1, "the call to Spotify")
        if how == "opt out":
            sync.opt_out(alice)
        else:
            disconnect_listener(alice)
    finally:
        fake_spotify.faults.wake_sleepers()  # Spotify answers the waiting call now
        thread.join(60)

    assert not thread.is_alive()
    assert result["report"].listeners == 0
    assert not Entry.objects.filter(user_id=alice.pk).exists()
    assert not SyncedPlay.objects.filter(user_id=alice.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_scheduler_firing_twice_at_once_queues_one_round(settings):
    settings.HISTORY_SYNC_ENABLED = True
    both = threading.Barrier(2)
    outcomes = []

    def fire():
        try:
            both.wait(10)
            outcomes.append(enqueue_round())
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcome["queued"] for outcome in outcomes) == [False, True]
    assert DBTaskResult.objects.filter(task_path=tasks.sync_round.module_path).count() == 1


def test_a_round_left_running_by_a_dead_worker_does_not_block_the_next(settings):
    settings.HISTORY_SYNC_ENABLED = True
    dead = tasks.sync_round.enqueue()
    DBTaskResult.objects.filter(id=dead.id).update(
        status="RUNNING", started_at=timezone.now() - timedelta(minutes=15)
    )

    outcome = enqueue_round()

    assert outcome["queued"]
    assert DBTaskResult.objects.get(id=dead.id).status == "FAILED"


def test_a_round_that_just_started_counts_as_running(settings):
    settings.HISTORY_SYNC_ENABLED = True
    starting = tasks.sync_round.enqueue()
    DBTaskResult.objects.filter(id=starting.id).update(status="RUNNING", started_at=timezone.now())

    assert not enqueue_round()["queued"]
    assert DBTaskResult.objects.get(id=starting.id).status == "RUNNING"


def test_the_command_says_when_the_sync_is_off(settings):
    settings.HISTORY_SYNC_ENABLED = False
    out = StringIO()

    call_command("sync_history", stdout=out)

    assert "The sync is off" in out.getvalue()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_repeats_of_one_track_come_out_the_same_in_every_order(fake_spotify):
    # Three Euterpe accounts on alice's Spotify, none syncing yet.
    a, b, c = (
        synced_listener(fake_spotify, "alice", username=name, opt_in=False)
        for name in ("sync-then-import", "import-then-sync", "sync-import-sync")
    )
    track = fake_spotify.listener("alice").plays[0].track
    length = timedelta(milliseconds=track.duration_ms)
    start = datetime.now(UTC) - 8 * length
    # One track four times back to back (played_at at each start), then twice more.
    first = fake_spotify.add_plays(
        "alice", played_at=[start + k * length for k in range(4)], track_ids=[track.id]
    )
    # The export knows the 2nd and 3rd as ending at the next one's played_at, and the 4th
    # with played_at at its end (as Spotify has been seen to send it): 90 s windows that
    # each reach two plays.
    export = _export_of(first[1:3], at=["start", "start"]) + _export_of([first[3]], at=["end"])
    files = lambda: [json_upload("Streaming_History_Audio_2026.json", export)]  # noqa: E731

    sync.opt_in(c)
    sync.run_round()  # c: the four plays
    run_import(b, *files())
    run_import(c, *files())
    second = fake_spotify.add_plays(
        "alice", played_at=[start + k * length for k in (5, 6)], track_ids=[track.id]
    )
    sync.opt_in(a)
    sync.opt_in(b)
    make_due(c)
    sync.run_round()  # a and b: all six; c: the last two
    run_import(a, *files())

    def since_start(user):
        # (Older plays differ: each account's first sync took the 50 newest of its day.)
        return [row for row in stored(user) if row[0] >= start - timedelta(minutes=2)]

    assert since_start(a) == since_start(b) == since_start(c)
    played = {moment(play["played_at"]) for play in first + second}
    mine = [row for row in since_start(a) if row[4] == track.name]
    assert [row[2] for row in mine].count(Source.EXTENDED) == 3
    # Six plays, three of them in the export: three stay synced entries of their own.
    assert len([row for row in mine if row[2] == Source.SYNC and row[0] in played]) == 3
