"""How many threads of a worker may wait on Spotify: half by default, never all of
them (at least one, even with WEB_THREADS=1)."""

import pytest

from euterpe_site.checks import free_thread_check
from tests.support import settings_error, settings_module


@pytest.mark.parametrize(("threads", "waiting"), [("1", 1), ("2", 1), ("3", 1), ("4", 2), ("8", 4)])
def test_half_the_threads_may_wait_on_spotify_and_at_least_one(threads, waiting):
    assert settings_module(WEB_THREADS=threads)["SPOTIFY_WAITING_THREADS"] == waiting


def test_the_operator_may_let_all_threads_but_one_wait():
    values = settings_module(WEB_THREADS="4", SPOTIFY_WAITING_THREADS="3")

    assert values["SPOTIFY_WAITING_THREADS"] == 3


@pytest.mark.parametrize("waiting", ["4", "5"])
def test_every_thread_waiting_on_spotify_stops_start_up(waiting):
    assert settings_error(WEB_THREADS="4", SPOTIFY_WAITING_THREADS=waiting) == (
        "SPOTIFY_WAITING_THREADS must be less than WEB_THREADS (4), so that a thread of "
        f"each worker is always free, got {waiting}"
    )


def test_no_waiting_slot_at_all_stops_start_up():
    assert settings_error(SPOTIFY_WAITING_THREADS="0") == (
        "SPOTIFY_WAITING_THREADS must be an integer >= 1, got '0'"
    )


def test_one_thread_per_worker_is_warned_about(settings):
    settings.WEB_THREADS = 1

    (warning,) = free_thread_check(None)

    assert warning.id == "euterpe.W001"
    assert "WEB_THREADS=2" in warning.hint


def test_two_threads_per_worker_are_fine(settings):
    settings.WEB_THREADS = 2

    assert free_thread_check(None) == []
