"""devtools.databases: what a killed run left is dropped, what a live run uses stays."""

import subprocess
import sys

from devtools import databases
from tests.support import server_connection


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _exists(server, name):
    return server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def test_a_name_ends_with_the_pid_of_the_run_that_made_it():
    name = databases.unique_name(f"{databases.DATABASE_PREFIX}_scratch")

    assert name.startswith("test_euterpe_scratch_")
    assert not databases.abandoned(name)


def test_databases_of_dead_runs_are_dropped_and_those_of_live_runs_stay():
    dead = f"{databases.DATABASE_PREFIX}_left_behind_{_dead_pid()}"
    alive = databases.unique_name(f"{databases.DATABASE_PREFIX}_in_use")
    other = f"someone_elses_{_dead_pid()}"
    with server_connection() as server:
        for name in (dead, alive, other):
            server.execute(f'CREATE DATABASE "{name}"')
        try:
            databases.drop_abandoned(server)

            assert not _exists(server, dead)
            assert _exists(server, alive)
            assert _exists(server, other)
        finally:
            for name in (dead, alive, other):
                server.execute(f'DROP DATABASE IF EXISTS "{name}"')
