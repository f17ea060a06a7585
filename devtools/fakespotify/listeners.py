"""Who the fake knows, live: demo and generated listeners, the app's allow-list,
what their cover art shows, and when their recent plays happened.

What each listener *is* (profile, top items, playlists, plays) is built,
deterministically, by :mod:`devtools.fakespotify.data`; this registry holds
what changes while the fake runs.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from devtools.fakespotify import data


class Listeners:
    """The registry; thread-safe (one lock, never held while building a listener)."""

    def __init__(self, demo: list[data.Listener]):
        self._lock = threading.Lock()
        # None: a generated listener whose data is built on first use.
        self._listeners: dict[str, data.Listener | None] = {}
        self._generated: list[str] = []
        self._image_labels: dict[str, str] = {}
        self._allowed: set[str] = set()
        self._default_allowed: set[str] = set()
        # When each listener last logged in; their plays count back from it.
        self._logins: dict[str, datetime] = {}
        self._started_at = datetime.now(UTC)
        # Plays added while the fake runs (the listener listening on), newest first,
        # each with the moment Spotify would give as played_at.
        self._added: dict[str, list[tuple[datetime, data.Play]]] = {}
        self._picked: dict[str, int] = {}
        # Demo mode: every listener plays a track this often (None: only when told).
        self._every: float | None = None
        self._listened_until: dict[str, datetime] = {}
        for listener in demo:
            self._listeners[listener.id] = listener
            self._image_labels.update(listener.image_labels)
            if listener.allowed:
                self._allowed.add(listener.id)
                self._default_allowed.add(listener.id)

    def generate(self, n: int, prefix: str = "listener") -> list[str]:
        """``n`` more ordinary listeners (``listener-0001``...); returns their ids.

        Their data is built on first use, so thousands cost nothing up front.
        """
        with self._lock:
            taken = sum(1 for key in self._listeners if key.startswith(f"{prefix}-"))
            ids = [f"{prefix}-{number:04d}" for number in range(taken + 1, taken + n + 1)]
            for listener_id in ids:
                self._listeners[listener_id] = None
                self._generated.append(listener_id)
                self._allowed.add(listener_id)
                self._default_allowed.add(listener_id)
        return ids

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._listeners)

    def knows(self, listener_id: str | None) -> bool:
        with self._lock:
            return listener_id in self._listeners

    def get(self, listener_id: str) -> data.Listener:
        """One listener's data; ValueError if unknown."""
        with self._lock:
            if listener_id not in self._listeners:
                raise ValueError(f"unknown listener {listener_id!r}")
            found = self._listeners[listener_id]
        if found is not None:
            return found
        # Built outside the lock; it is deterministic, so a racing twin is identical.
        built = data.generated_listener(listener_id)
        with self._lock:
            if self._listeners[listener_id] is None:
                self._listeners[listener_id] = built
                self._image_labels.update(built.image_labels)
            return self._listeners[listener_id]

    def for_consent_page(self, shown_generated: int) -> tuple[list[data.Listener], int, set[str]]:
        """The demo listeners and the first generated ones, how many more there are,
        and who is on the allow-list."""
        with self._lock:
            generated = list(self._generated)
            is_generated = set(generated)
            demo = [key for key in self._listeners if key not in is_generated]
            allowed = set(self._allowed)
        shown = [self.get(key) for key in demo + generated[:shown_generated]]
        return shown, max(0, len(generated) - shown_generated), allowed

    def image_label(self, key: str) -> str | None:
        """The text the image ``key`` (``album-<id>``...) shows; None if no one has it."""
        with self._lock:
            return self._image_labels.get(key)

    # -- the allow-list --

    def is_allowed(self, listener_id: str | None) -> bool:
        with self._lock:
            return listener_id in self._allowed

    def set_allowed(self, listener_id: str, allowed: bool) -> None:
        self.get(listener_id)
        with self._lock:
            if allowed:
                self._allowed.add(listener_id)
            else:
                self._allowed.discard(listener_id)

    def reset_allowed(self) -> None:
        with self._lock:
            self._allowed = set(self._default_allowed)

    # -- recently played --

    def logged_in(self, listener_id: str) -> None:
        """Recently played counts back from the latest login, so it looks live."""
        with self._lock:
            self._logins[listener_id] = datetime.now(UTC)

    def forget_logins(self) -> None:
        with self._lock:
            self._logins = {}
            self._started_at = datetime.now(UTC)

    def recently_played(self, listener: data.Listener) -> list[tuple[datetime, data.Play]]:
        """The listener's plays, newest first, each with the moment it happened: the
        plays added while the fake runs, then the built ones, which count back from the
        latest login."""
        self._listen_on(listener)
        with self._lock:
            anchor = self._logins.get(listener.id, self._started_at)
            added = list(self._added.get(listener.id, []))
        built = [(data.played_at(play, anchor), play) for play in listener.plays]
        return sorted(added + built, key=lambda moment_play: moment_play[0], reverse=True)

    def add_plays(
        self,
        listener: data.Listener,
        moments: list[datetime] | None = None,
        n: int = 1,
        track_ids: list[str] | None = None,
    ) -> list[tuple[datetime, data.Play]]:
        """The listener plays more: at ``moments`` (aware), or ``n`` tracks back to back
        ending now. Tracks are ``track_ids`` (of the listener's own) in turn, else the
        listener's tracks in turn. Returns the plays added, oldest first."""
        tracks = _playable_tracks(listener)
        if not tracks:
            raise ValueError(f"listener {listener.id!r} has no tracks to play")
        by_id = {track.id: track for track in tracks}
        if track_ids:
            chosen = [by_id[track_id] for track_id in track_ids]  # KeyError: 400
            if moments is None:
                chosen = [chosen[k % len(chosen)] for k in range(n)]
        else:
            with self._lock:
                start = self._picked.get(listener.id, 0)
                count = len(moments) if moments is not None else n
                self._picked[listener.id] = start + count
            chosen = [tracks[(start + k) % len(tracks)] for k in range(count)]
        if moments is None:
            moments, at = [], datetime.now(UTC)
            for track in reversed(chosen[:n]):
                at -= timedelta(milliseconds=track.duration_ms)
                moments.insert(0, at)
        if len(chosen) < len(moments):
            chosen = [chosen[k % len(chosen)] for k in range(len(moments))]
        plays = [
            (moment.astimezone(UTC), data.Play(track, 0, moment.microsecond // 1000, None))
            for moment, track in zip(moments, chosen, strict=False)
        ]
        with self._lock:
            kept = self._added.setdefault(listener.id, [])
            kept.extend(plays)
            kept.sort(key=lambda moment_play: moment_play[0], reverse=True)
        return sorted(plays, key=lambda moment_play: moment_play[0])

    def keep_listening(self, every_seconds: float | None) -> None:
        """Demo mode: every listener plays a track every ``every_seconds`` of wall time
        (None stops it); the plays appear when recently played is asked for."""
        with self._lock:
            self._every = every_seconds
            self._listened_until = {}

    def _listen_on(self, listener: data.Listener) -> None:
        with self._lock:
            every = self._every
            if every is None:
                return
            now = datetime.now(UTC)
            since = self._listened_until.setdefault(listener.id, now)
            count = int((now - since).total_seconds() // every)
            if not count:
                return
            self._listened_until[listener.id] = since + timedelta(seconds=count * every)
        moments = [since + timedelta(seconds=(k + 1) * every) for k in range(min(count, 50))]
        if _playable_tracks(listener):
            self.add_plays(listener, moments=moments)

    def forget_plays(self) -> None:
        """No plays added, and no demo listening."""
        with self._lock:
            self._every = None
            self._added = {}
            self._picked = {}
            self._listened_until = {}


def _playable_tracks(listener: data.Listener) -> list[data.Track]:
    """The listener's tracks that are not local files, each once, in a stable order."""
    seen: dict[str, data.Track] = {}
    for play in listener.plays:
        if play.track.id and not play.track.is_local:
            seen.setdefault(play.track.id, play.track)
    return list(seen.values())
