"""How many threads of a worker may wait on Spotify: all but one, at least one."""

import pytest

from euterpe_site.checks import free_thread_check
from tests.support import settings_module


@pytest.mark.parametrize(("threads", "waiting"), [("1", 1), ("2", 1), ("4", 3), ("8", 7)])
def test_every_thread_but_one_may_wait_on_spotify_and_at_least_one(threads, waiting):
    assert settings_module(WEB_THREADS=threads)["SPOTIFY_WAITING_THREADS"] == waiting


def test_one_thread_per_worker_is_warned_about(settings):
    settings.WEB_THREADS = 1

    (warning,) = free_thread_check(None)

    assert warning.id == "euterpe.W001"
    assert "WEB_THREADS=2" in warning.hint


def test_two_threads_per_worker_are_fine(settings):
    settings.WEB_THREADS = 2

    assert free_thread_check(None) == []
