"""Imports through a real `manage.py db_worker` process, killed with SIGKILL half-way."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from devtools.processes import BASE_DIR
from listening_history import services
from listening_history.models import Import, UploadChunk
from listening_history.tests.helpers import extended, json_upload, listener, run_import, stored
from tests.support import production_env, server_connection

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 120


class Worker:
    """`manage.py db_worker` on the test database, its output in a log file."""

    def __init__(self, log_path, *args, env=None):
        env = production_env(connection.settings_dict["NAME"], PYTHONUNBUFFERED="1", **(env or {}))
        self.log_path = log_path
        with open(log_path, "a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "db_worker",
                    "--no-startup-delay",
                    "--interval",
                    "0.2",
                    *args,
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def finish(self):
        """Wait for a --batch worker to exit; returns its output."""
        try:
            self.process.wait(WAIT_SECONDS)
        finally:
            self.stop()
        return self.log_path.read_text()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def _wait_for(condition, what, extra=None):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {extra() if extra else ''}")


def _waiting_on_locks():
    """Sessions of the test database waiting for a lock (asked on a fresh connection:
    inside a transaction pg_stat_activity is a snapshot)."""
    with server_connection(connection.settings_dict["NAME"]) as observer:
        return observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()[0]


def _files():
    first = [
        extended(f"2024-01-01T10:{m:02d}:{s:02d}Z", 1000 + s, track=f"T{m}")
        for m in range(60)
        for s in range(60)
    ]
    second = [
        extended(f"2024-02-01T10:{m:02d}:00Z", 2000, track=f"U{m}", platform="blocker")
        for m in range(60)
    ]
    return lambda: [json_upload("first.json", first), json_upload("second.json", second)]


def test_a_real_worker_imports_an_upload(tmp_path):
    alice = listener()
    upload = services.start_import(user=alice, files=_files()())

    output = Worker(tmp_path / "worker.log", "--batch").finish()

    upload.refresh_from_db()
    assert upload.state == Import.State.DONE, output
    assert (upload.files, upload.entries, upload.added) == (2, 3660, 3660)


def test_a_worker_killed_mid_import_is_swept_and_the_result_equals_an_uninterrupted_import(
    tmp_path,
):
    files = _files()
    alice, bob = listener("alice"), listener("bob")
    uninterrupted = run_import(bob, *files())
    upload = services.start_import(user=alice, files=files())

    # Hold back the second file: an uncommitted row with the term it needs makes the
    # worker's insert wait, after the first file is committed.
    with server_connection(connection.settings_dict["NAME"]) as blocker:
        blocker.autocommit = False
        blocker.execute(
            "INSERT INTO euterpe.listening_history_term (user_id, text) VALUES (%s, 'blocker')",
            [alice.pk],
        )
        worker = Worker(tmp_path / "killed.log")
        try:
            _wait_for(
                lambda: Import.objects.get(pk=upload.pk).staged_files == ["0"], "the first file"
            )
            _wait_for(lambda: _waiting_on_locks(), "the worker to wait for the second file")
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait(30)
        finally:
            worker.stop()
        blocker.rollback()

    killed = Import.objects.get(pk=upload.pk)
    assert killed.state == Import.State.RUNNING
    assert killed.attempt == 1

    # PostgreSQL ends the killed worker's session (and its lock) once it notices.
    assert _wait_for(services.sweep_stale_imports, "the sweeper") == [upload.pk]
    # The dead run's task result is closed rather than left RUNNING for ever.
    assert DBTaskResult.objects.get(id=killed.task_id).status == "FAILED"
    output = Worker(tmp_path / "worker.log", "--batch").finish()

    finished = Import.objects.get(pk=upload.pk)
    assert finished.state == Import.State.DONE, output
    assert finished.attempt == 2
    assert stored(alice) == stored(bob)
    assert (finished.files, finished.entries, finished.added, finished.duplicates) == (
        uninterrupted.files,
        uninterrupted.entries,
        uninterrupted.added,
        uninterrupted.duplicates,
    )
    assert not finished.upload_files.exists()


@pytest.mark.parametrize("how", ["delete my history", "disconnect"])
def test_nothing_is_written_after_the_history_is_deleted_mid_import(tmp_path, how):
    alice, bob = listener("alice"), listener("bob")
    run_import(bob, *_files()())
    bobs = stored(bob)
    upload = services.start_import(user=alice, files=_files()())

    with server_connection(connection.settings_dict["NAME"]) as blocker:
        blocker.autocommit = False
        blocker.execute(
            "INSERT INTO euterpe.listening_history_term (user_id, text) VALUES (%s, 'blocker')",
            [alice.pk],
        )
        worker = Worker(tmp_path / "worker.log")
        try:
            _wait_for(
                lambda: Import.objects.get(pk=upload.pk).staged_files == ["0"],
                "the first file",
                extra=lambda: worker.log_path.read_text(),
            )
            # The worker is inside the second file's transaction: deleting (from another
            # process, as the web dyno would) waits for it.
            deleting = _delete_in_a_process(alice, how, tmp_path / "delete.log")
            _wait_for(lambda: _waiting_on_locks() >= 2, "the deletion to wait")
            blocker.rollback()
            assert deleting.wait(WAIT_SECONDS) == 0, (tmp_path / "delete.log").read_text()
            # The worker ends the run either way: stopped by the fence, or (when its last
            # commit won the row lock the deletion was woken for) done just before the
            # deletion removed it all. What matters is what is left afterwards.
            _wait_for(
                lambda: re.search(
                    rf"Import {upload.pk} (stopped|done)", worker.log_path.read_text()
                ),
                "the worker to end the run",
                extra=lambda: worker.log_path.read_text(),
            )
            time.sleep(1)  # anything the worker still wrote would be visible by now
        finally:
            worker.stop()

    for table in ("entry", "item", "artist", "album", "term", "import", "stagedentry"):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM listening_history_{table}")
            total = cursor.fetchone()[0]
        bob_only = {
            "entry": len(bobs),
            "import": 1,
            "stagedentry": 0,
        }
        if table in bob_only:
            assert total == bob_only[table], table
    assert stored(bob) == bobs
    assert not Import.objects.filter(pk=upload.pk).exists()
    assert not UploadChunk.objects.exists()


def _delete_in_a_process(user, how, log_path):
    call = (
        "accounts.services.disconnect_listener(user)"
        if how == "disconnect"
        else "listening_history.services.delete_history(user)"
    )
    code = (
        "import django; django.setup(); import accounts.services, listening_history.services; "
        "from django.contrib.auth import get_user_model; "
        f"user = get_user_model().objects.get(pk={user.pk}); {call}"
    )
    env = production_env(connection.settings_dict["NAME"])
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
