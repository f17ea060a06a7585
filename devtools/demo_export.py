"""A generated Spotify data export: the demo import, the tests and the import benchmark.

    python -m devtools.demo_export demo.zip [--entries 30000] [--files 3] [--seed 16]

writes a ZIP laid out as Spotify mails it (``my_spotify_data.zip``):

- ``Spotify Extended Streaming History/Streaming_History_Audio_<years>_<n>.json``:
  ``entries`` entries in ``files`` files, oldest first, named by the years they
  span as Spotify names them. Tracks of a few hundred artists (some names
  outside ASCII, some tracks under a second, relinked URI as Spotify has them),
  podcast episodes of a few shows, and from 2024 the chapters of an audiobook
  (with Spotify's audiobook keys). Files whose entries all end before
  LAYOUT_CHANGE are in the old field layout (``ts`` as ``2019-05-01
  10:23:45``, ``username``, ``ip_addr_decrypted``, ``user_agent_decrypted``, no
  audiobook keys), the rest in today's (``ts`` with ``Z``, ``ip_addr``).
  ``bad`` of the entries are broken the ways the importer must skip (not an
  object, no time, an unparsable time, a time before Spotify, a negative or
  fractional duration, a duration as words).
- ``Spotify Account Data/StreamingHistory_music_<n>.json`` and
  ``StreamingHistory_podcast_<n>.json``: the music and podcast plays of the last
  ``account_days`` in the account-data shape (``endTime`` to the minute, names,
  no URIs). They overlap the extended history (the importer's matcher must keep
  each play once) and run ACCOUNT_LEAD days past its end (plays only they know).
- ``ReadMeFirst_ExtendedStreamingHistory.pdf`` and ``Userdata.json`` beside
  them, which the importer ignores.

Everything follows from the arguments: the same arguments give the same bytes
(fixed times in the ZIP, no clock, no hash order), which the tests check. The
history ends at END, not today, for the same reason.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import random
import string
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
# Spotify's extended history grew audiobook keys and lost the decrypted ones around here.
LAYOUT_CHANGE = datetime(2023, 7, 1, tzinfo=UTC)
AUDIOBOOKS_FROM = datetime(2024, 1, 1, tzinfo=UTC)
ACCOUNT_LEAD = timedelta(days=10)
ZIP_TIME = (2026, 11, 1, 9, 30, 0)  # every member's time stamp: the bytes must not move
EXTENDED_FOLDER = "Spotify Extended Streaming History"
ACCOUNT_FOLDER = "Spotify Account Data"
ACCOUNT_FILE_ENTRIES = 10_000  # Spotify splits account data about here
DEFAULTS = {"entries": 30_000, "files": 3, "years": 7, "account_days": 365, "bad": 7, "seed": 16}

PLATFORMS = (
    ("android", "Android OS 13 API 33 (Google, Pixel 7)"),
    ("ios", "iOS 17.4.1 (iPhone15,2)"),
    ("windows", "Windows 10 (10.0.19045; x64; AppX)"),
    ("osx", "OS X 14.2.1 [arm 2]"),
    ("web_player", "web_player linux ;chrome 120.0.0.0;desktop"),
)
COUNTRIES = ("SE", "SE", "SE", "DE", "NO", "AR", "JP")
REASONS_START = ("trackdone", "trackdone", "trackdone", "clickrow", "fwdbtn", "playbtn", "appload")
REASONS_END = ("trackdone", "trackdone", "trackdone", "fwdbtn", "endplay", "logout", "backbtn")
# A listener's day: weights of each hour (UTC) for when a session starts.
HOURS = (1, 1, 0, 0, 0, 1, 3, 6, 8, 6, 4, 4, 5, 4, 4, 5, 6, 7, 8, 9, 9, 8, 5, 2)
HOUR_WEIGHTS = list(itertools.accumulate(HOURS))
UNICODE_ARTISTS = (
    "Sigur Rós",
    "Björk",
    "坂本龍一",
    "Beyoncé",
    "Mø",
    "Ólafur Arnalds",
    "Café Tacvba",
)
SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "sel", "an", "dri", "ul", "no", "bel", "quo")
WORDS = (
    "Night", "Summer", "Glass", "River", "Echo", "Paper", "Golden", "Slow", "Neon", "Winter",
    "Blue", "Heart", "Light", "Motion", "Static", "Ocean", "Fire", "Garden", "Silver", "Dream",
)  # fmt: skip
SHOWS = ("The Daily Loop", "Science Hour", "Deutsch im Alltag", "Football Weekly", "Slow History")
AUDIOBOOK = "The Long Way Home"
PDF = b"%PDF-1.4\n% Euterpe demo: Spotify's read-me would be here.\n%%EOF\n"


@dataclass
class DemoExport:
    """A generated export: the ZIP's bytes and what is in it."""

    data: bytes
    members: list[str]
    extended_entries: int  # list elements in the extended files, the bad ones included
    account_entries: int
    bad_entries: int
    # Account-data entries that mirror an extended one (the matcher's duplicates).
    overlapping: int
    kinds: dict = field(default_factory=dict)  # extended entries per kind


@dataclass
class _Item:
    kind: str  # "track", "episode", "chapter", "unknown"
    names: dict  # the export's keys for it
    length_ms: int
    creator: str | None = None  # account data's artistName / podcastName
    title: str | None = None


def generate(
    *,
    entries: int = DEFAULTS["entries"],
    files: int = DEFAULTS["files"],
    years: int = DEFAULTS["years"],
    account_days: int = DEFAULTS["account_days"],
    bad: int = DEFAULTS["bad"],
    seed: int = DEFAULTS["seed"],
    end: datetime = END,
) -> DemoExport:
    """Generate the export; see the module's docstring for what it holds."""
    if entries < 1 or files < 1 or files > entries:
        raise ValueError("need at least one entry per file")
    rnd = random.Random(seed)
    catalogue = _Catalogue(rnd)
    extended_end = end - ACCOUNT_LEAD if account_days else end
    start = end - timedelta(days=365 * years)
    # Plays of the whole span; the extended history has the first `entries - bad` of them.
    extra = _plays_per_day(account_days, entries, years)
    plays = _plays(rnd, catalogue, start, entries - bad, extended_end, end, extra)
    extended = plays[: entries - bad]
    rows = [_extended(rnd, play) for play in extended]
    for number in range(bad):
        rows.insert(rnd.randrange(len(rows) + 1), _bad(number, rnd))
    members = {}
    chunk = -(-len(rows) // files)
    kinds: dict[str, int] = {}
    for play in extended:
        kinds[play[1].kind] = kinds.get(play[1].kind, 0) + 1
    for number in range(files):
        part = rows[number * chunk : (number + 1) * chunk]
        times = [row["_ts"] for row in part if "_ts" in row]
        first, last = (min(times).year, max(times).year) if times else (end.year, end.year)
        label = f"{first}" if first == last else f"{first}-{last}"
        old = bool(times) and max(times) < LAYOUT_CHANGE
        entries_out = [_layout(row, old) for row in part]
        members[f"{EXTENDED_FOLDER}/Streaming_History_Audio_{label}_{number}.json"] = entries_out
    members[f"{EXTENDED_FOLDER}/ReadMeFirst_ExtendedStreamingHistory.pdf"] = PDF
    account, overlapping = _account(plays, end - timedelta(days=account_days), len(extended))
    if account_days:
        for kind, label in (("track", "music"), ("episode", "podcast")):
            chosen = [entry for what, entry in account if what == kind]
            for number in range(max(1, -(-len(chosen) // ACCOUNT_FILE_ENTRIES))):
                part = chosen[number * ACCOUNT_FILE_ENTRIES : (number + 1) * ACCOUNT_FILE_ENTRIES]
                members[f"{ACCOUNT_FOLDER}/StreamingHistory_{label}_{number}.json"] = part
        members[f"{ACCOUNT_FOLDER}/Userdata.json"] = {
            "username": "demo-listener",
            "country": "SE",
            "creationTime": "2016-02-11",
        }
    return DemoExport(
        data=_zip(members),
        members=list(members),
        extended_entries=len(rows),
        account_entries=len(account) if account_days else 0,
        bad_entries=bad,
        overlapping=overlapping if account_days else 0,
        kinds=kinds,
    )


def _plays_per_day(account_days, entries, years):
    """Plays in the account data's lead days, at the extended history's pace."""
    if not account_days:
        return 0
    return max(1, round(entries / (365 * years) * ACCOUNT_LEAD.days))


# --- what is played ---------------------------------------------------------------------


class _Catalogue:
    """Artists, albums, tracks, shows, episodes and one audiobook, with popularity."""

    def __init__(self, rnd: random.Random):
        self.rnd = rnd
        self.tracks: list[_Item] = []
        artists = list(UNICODE_ARTISTS)
        while len(artists) < 240:
            name = " ".join(
                "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 3))).title()
                for _ in range(rnd.randint(1, 2))
            )
            if name not in artists:
                artists.append(name)
        for artist in artists:
            for _ in range(rnd.randint(1, 3)):
                album = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)}"
                for number in range(rnd.randint(4, 12)):
                    title = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)}" + (
                        f" (Part {number})" if number % 5 == 4 else ""
                    )
                    self.tracks.append(self._track(title, artist, album))
        # Spotify relinks: the same recording under a second URI (about one in ten).
        for track in rnd.sample(self.tracks, len(self.tracks) // 10):
            twin = _Item(
                "track", {**track.names, "spotify_track_uri": _uri(rnd, "track")}, track.length_ms
            )
            twin.creator, twin.title = track.creator, track.title
            self.tracks.append(twin)
        # A few favourites get most plays, as in any real history.
        weights = [1 / (rank + 8) for rank in range(len(self.tracks))]
        rnd.shuffle(weights)
        self.track_weights = list(itertools.accumulate(weights))
        self.episodes = []
        for show in SHOWS:
            for number in range(1, 41):
                self.episodes.append(
                    _Item(
                        "episode",
                        {
                            "episode_name": f"{show} #{number}: {rnd.choice(WORDS)}",
                            "episode_show_name": show,
                            "spotify_episode_uri": _uri(rnd, "episode"),
                        },
                        rnd.randint(20, 70) * 60_000,
                    )
                )
                self.episodes[-1].creator = show
                self.episodes[-1].title = self.episodes[-1].names["episode_name"]
        book_uri = _uri(rnd, "show")
        self.chapters = [
            _Item(
                "chapter",
                {
                    "audiobook_title": AUDIOBOOK,
                    "audiobook_uri": book_uri,
                    "audiobook_chapter_uri": _uri(rnd, "episode"),
                    "audiobook_chapter_title": f"Chapter {number}",
                },
                rnd.randint(15, 40) * 60_000,
            )
            for number in range(1, 31)
        ]
        self.unknown = _Item("unknown", {}, 0)

    def _track(self, title, artist, album):
        item = _Item(
            "track",
            {
                "master_metadata_track_name": title,
                "master_metadata_album_artist_name": artist,
                "master_metadata_album_album_name": album,
                "spotify_track_uri": _uri(self.rnd, "track"),
            },
            self.rnd.randint(95, 420) * 1000 + self.rnd.randint(0, 999),
        )
        item.creator, item.title = artist, title
        return item

    def pick(self, ts: datetime, chapter: int) -> _Item:
        roll = self.rnd.random()
        if roll < 0.002:
            return self.unknown  # Spotify's entries with every name missing
        if roll < 0.07:
            return self.rnd.choice(self.episodes)
        if roll < 0.085 and ts >= AUDIOBOOKS_FROM:
            return self.chapters[chapter % len(self.chapters)]
        return self.rnd.choices(self.tracks, cum_weights=self.track_weights)[0]


def _uri(rnd: random.Random, kind: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return f"spotify:{kind}:" + "".join(rnd.choice(alphabet) for _ in range(22))


# --- when ------------------------------------------------------------------------------


def _plays(rnd, catalogue, start, wanted, extended_end, end, lead):
    """(end time, item, ms_played, details, offline) in time order: ``wanted`` on the days
    up to ``extended_end``, then ``lead`` on the days after it up to ``end``, in sessions
    of back-to-back streams."""
    days_before = (extended_end.date() - start.date()).days
    # Which day each play falls on: more at weekends, a quieter summer.
    weights = []
    for offset in range(days_before):
        day = start.date() + timedelta(days=offset)
        weights.append((1.4 if day.weekday() >= 5 else 1.0) * (0.7 if day.month in (7, 8) else 1))
    per_day = [0] * days_before
    for index in rnd.choices(range(days_before), weights, k=wanted):
        per_day[index] += 1
    lead_days = (end.date() - extended_end.date()).days
    per_day += [0] * max(0, lead_days)
    for _ in range(lead if lead_days > 0 else 0):
        per_day[days_before + rnd.randrange(lead_days)] += 1
    plays, chapter = [], 0
    for offset, count in enumerate(per_day):
        day = start.date() + timedelta(days=offset)
        clock = None
        left = count
        while left:
            session = min(left, rnd.randint(3, 25))
            left -= session
            hour = rnd.choices(range(24), cum_weights=HOUR_WEIGHTS)[0]
            begin = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            begin += timedelta(seconds=rnd.randrange(3600))
            clock = begin if clock is None or begin > clock else clock + timedelta(minutes=20)
            platform = rnd.choice(PLATFORMS)
            country = rnd.choice(COUNTRIES)
            shuffle = rnd.random() < 0.4
            offline = rnd.random() < 0.05
            for _ in range(session):
                item = catalogue.pick(clock, chapter)
                if item.kind == "chapter":
                    chapter += 1
                ms, reason_end = _duration(rnd, item)
                clock += timedelta(milliseconds=ms + rnd.randint(200, 4000))
                details = (platform, country, rnd.choice(REASONS_START), reason_end, shuffle)
                plays.append((clock.replace(microsecond=0), item, ms, details, offline))
    plays.sort(key=lambda play: play[0])
    return plays


def _duration(rnd, item):
    if item.kind == "unknown":
        return rnd.randint(0, 5000), "unknown"
    roll = rnd.random()
    if roll < 0.18:  # skipped early
        return rnd.randint(300, 29_000), rnd.choice(("fwdbtn", "fwdbtn", "backbtn"))
    if roll < 0.25:  # stopped part-way
        return rnd.randint(30_000, item.length_ms), rnd.choice(("endplay", "logout"))
    return item.length_ms, "trackdone"


# --- the two shapes ----------------------------------------------------------------------


def _extended(rnd, play):
    ts, item, ms, (platform, country, reason_start, reason_end, shuffle), offline = play
    android, label = platform
    skipped = reason_end in ("fwdbtn", "backbtn") and ms < 30_000
    return {
        "_ts": ts,
        "_platform": (android, label),
        "ms_played": ms,
        "conn_country": country,
        "master_metadata_track_name": item.names.get("master_metadata_track_name"),
        "master_metadata_album_artist_name": item.names.get("master_metadata_album_artist_name"),
        "master_metadata_album_album_name": item.names.get("master_metadata_album_album_name"),
        "spotify_track_uri": item.names.get("spotify_track_uri"),
        "episode_name": item.names.get("episode_name"),
        "episode_show_name": item.names.get("episode_show_name"),
        "spotify_episode_uri": item.names.get("spotify_episode_uri"),
        "audiobook_title": item.names.get("audiobook_title"),
        "audiobook_uri": item.names.get("audiobook_uri"),
        "audiobook_chapter_uri": item.names.get("audiobook_chapter_uri"),
        "audiobook_chapter_title": item.names.get("audiobook_chapter_title"),
        "reason_start": reason_start,
        "reason_end": reason_end,
        "shuffle": shuffle,
        "skipped": skipped,
        "offline": offline,
        "offline_timestamp": int(ts.timestamp()) - 60 if offline else 0,
        "incognito_mode": rnd.random() < 0.01,
    }


def _layout(row, old):
    """The entry in the old (before mid-2023) or today's field layout, keys in Spotify's order."""
    if "_ts" not in row:
        return row["_bad"]
    ts, (short, long) = row["_ts"], row["_platform"]
    rest = {k: v for k, v in row.items() if not k.startswith("_")}
    if old:
        entry = {
            "ts": ts.strftime("%Y-%m-%d %H:%M:%S"),
            "username": "demo-listener",
            "platform": long,
            "ms_played": rest["ms_played"],
            "conn_country": rest["conn_country"],
            "ip_addr_decrypted": "192.0.2.44",
            "user_agent_decrypted": "unknown",
        }
        skipped = rest["skipped"] if ts.year >= 2020 else None  # older years: null
        keys = [k for k in rest if not k.startswith("audiobook_") and k != "skipped"]
        entry.update({k: rest[k] for k in keys if k not in entry})
        entry["skipped"] = skipped
        # The old layout knew no audiobooks: keep the key order Spotify used then.
        order = [
            "ts", "username", "platform", "ms_played", "conn_country", "ip_addr_decrypted",
            "user_agent_decrypted", "master_metadata_track_name",
            "master_metadata_album_artist_name", "master_metadata_album_album_name",
            "spotify_track_uri", "episode_name", "episode_show_name", "spotify_episode_uri",
            "reason_start", "reason_end", "shuffle", "skipped", "offline", "offline_timestamp",
            "incognito_mode",
        ]  # fmt: skip
        return {k: entry[k] for k in order}
    entry = {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": short,
        "ms_played": rest["ms_played"],
        "conn_country": rest["conn_country"],
        "ip_addr": "192.0.2.44",
    }
    entry.update({k: v for k, v in rest.items() if k not in entry})
    return entry


def _bad(number, rnd):
    """An entry the importer must skip (and count), the rest of its file still read."""
    ts = "2021-06-01T12:00:00Z"
    track = {"master_metadata_track_name": "Broken", "master_metadata_album_artist_name": "Nobody"}
    shapes = (
        "not an entry",
        {"ms_played": 1000, **track},  # no time
        {"ts": "yesterday", "ms_played": 1000, **track},
        {"ts": "2003-02-01T10:00:00Z", "ms_played": 1000, **track},  # before Spotify
        {"ts": ts, "ms_played": -5, **track},
        {"ts": ts, "ms_played": 12.5, **track},
        {"ts": ts, "ms_played": "a while", **track},
    )
    return {"_bad": shapes[number % len(shapes)]}


def _account(plays, since, in_extended):
    """Account-data entries (music and podcasts) of the plays after ``since``; returns
    ([(kind, entry)], how many mirror an extended entry: the first ``in_extended`` plays)."""
    out, overlapping = [], 0
    for index, (ts, item, ms, _details, _offline) in enumerate(plays):
        if ts < since or item.kind not in ("track", "episode"):
            continue
        end_time = ts.strftime("%Y-%m-%d %H:%M")
        if item.kind == "track":
            entry = {
                "endTime": end_time,
                "artistName": item.creator,
                "trackName": item.title,
                "msPlayed": ms,
            }
        else:
            entry = {
                "endTime": end_time,
                "podcastName": item.creator,
                "episodeName": item.title,
                "msPlayed": ms,
            }
        out.append((item.kind, entry))
        overlapping += index < in_extended
    return out, overlapping


# --- the ZIP --------------------------------------------------------------------------


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever machine generates it
            info.external_attr = 0o644 << 16
            if isinstance(content, bytes):
                data = content
            elif isinstance(content, list):
                # One entry a line: what the reader meets in real files, without their indent.
                data = (
                    "[\n"
                    + ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in content)
                    + "\n]"
                ).encode()
            else:
                data = json.dumps(content, ensure_ascii=False, indent=2).encode()
            archive.writestr(info, data, compresslevel=6)
    return buffer.getvalue()


def write(path: Path, **options) -> DemoExport:
    export = generate(**options)
    Path(path).write_bytes(export.data)
    return export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo_export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("path", type=Path, help="where to write the ZIP")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    options = {name: getattr(args, name) for name in DEFAULTS}
    export = write(args.path, **options)
    print(
        f"{args.path}: {len(export.data):,} bytes, {export.extended_entries:,} extended entries "
        f"({export.bad_entries} broken) and {export.account_entries:,} account-data entries "
        f"({export.overlapping:,} of them also in the extended history), "
        f"{len(export.members)} files"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
