"""Reading Spotify's data exports: ZIPs and JSON files in, plain rows out.

Liberal about what real exports look like (every key optional, two time
formats, ``skipped`` as null, 0/1 or a boolean, a UTF-8 BOM), strict about what
can hurt: a ZIP is inflated with the bytes counted (the sizes it declares can
lie), a JSON file is read as a stream one entry at a time (memory stays flat
whatever its size), nesting too deep for the parser is an error for that file,
and the private keys (``ip_addr``, ``username``, ...) are never read at all.

Nothing here touches the database: :func:`read_upload` yields
:class:`HistoryFile` objects whose ``rows()`` give :data:`Row` tuples in
:data:`COLUMNS` order, and the importer copies them into PostgreSQL.
"""

import codecs
import fnmatch
import hashlib
import io
import json
import re
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from listening_history.models import Kind, Source

# Base names of history files inside a ZIP (folders do not matter).
HISTORY_PATTERNS = (
    "streaming_history_audio_*.json",
    "streaming_history_video_*.json",
    "endsong_*.json",
    "endvideo*.json",
    "streaminghistory*.json",
)
EARLIEST = datetime(2008, 1, 1, tzinfo=UTC)  # Spotify launched in October 2008
MAX_MS_PLAYED = 24 * 60 * 60 * 1000
# No real entry comes near this; a longer one is hostile and ends the file.
MAX_ENTRY_CHARS = 1 << 20
MAX_TEXT_CHARS = 2000
READ_CHARS = 1 << 20
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# Keys whose presence says "this list is streaming history".
HISTORY_KEYS = frozenset({"ts", "ms_played", "endTime", "msPlayed"})

# What the importer copies, in this order.
COLUMNS = (
    "ts",
    "ms_played",
    "source",
    "kind",
    "item_key",
    "match_key",
    "track_name",
    "artist_name",
    "album_name",
    "track_uri",
    "episode_name",
    "show_name",
    "episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "chapter_title",
    "chapter_uri",
    "platform",
    "conn_country",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "incognito_mode",
)


class FileError(Exception):
    """A file (or the whole upload) cannot be read; the message is for the listener."""


class UploadError(FileError):
    """The whole upload is unusable (a truncated ZIP, a ZIP bomb)."""


def is_history_name(name):
    base = PurePosixPath(name.replace("\\", "/")).name.lower()
    return any(fnmatch.fnmatchcase(base, pattern) for pattern in HISTORY_PATTERNS)


@dataclass
class Budget:
    """Bytes the upload's ZIPs may still inflate to (HISTORY_MAX_UNCOMPRESSED_MB)."""

    limit: int
    used: int = 0

    def spend(self, count, what):
        self.used += count
        if self.used > self.limit:
            raise UploadError(
                f"{what} would inflate past {self.limit // (1024 * 1024)} MB; nothing of it "
                "was imported"
            )


class _CountingReader(io.RawIOBase):
    """A ZIP member's bytes, counted against the budget while they are inflated."""

    def __init__(self, member, budget, what):
        self.member, self.budget, self.what = member, budget, what

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.member.read(len(buffer))
        self.budget.spend(len(data), self.what)
        buffer[: len(data)] = data
        return len(data)


@dataclass
class HistoryFile:
    """One history file: a JSON upload, or a matching member of an uploaded ZIP."""

    key: str  # stable across runs: "<upload position>/<member name>"
    name: str  # what the listener is told
    opener: object  # () -> binary stream
    stats: dict = field(default_factory=lambda: {"entries": 0, "skipped": 0})

    def rows(self, now=None):
        """Yield a Row for every valid entry; count the skipped ones in ``stats``.

        Raises FileError when the file is not a JSON list of history entries;
        the caller discards whatever it took from the file so far.
        """
        now = now or datetime.now(UTC)
        latest = now + timedelta(minutes=5)  # a clock a little ahead is no future
        seen_history_key = False
        memo = {}
        with self.opener() as raw:
            for value in iter_json_list(raw, self.name):
                if not isinstance(value, dict):
                    self.stats["skipped"] += 1
                    continue
                if not seen_history_key and not HISTORY_KEYS.isdisjoint(value):
                    seen_history_key = True
                row = parse_entry(value, latest, memo)
                if row is None:
                    self.stats["skipped"] += 1
                else:
                    self.stats["entries"] += 1
                    yield row
        if not seen_history_key and self.stats["skipped"]:
            raise FileError(f"{self.name} holds no streaming history")


def read_upload(name, path, budget, position=0):
    """The history files of one uploaded file (a ZIP or a JSON), by content.

    Returns ``(files, ignored)``: HistoryFile objects and the names of ZIP
    members that are not history. Raises FileError for a file that is neither
    a ZIP nor JSON-looking, UploadError for a broken ZIP.
    """
    with open(path, "rb") as head:
        magic = head.read(4)
    if magic in ZIP_MAGIC:
        return _zip_members(name, path, budget, position)
    return [HistoryFile(key=f"{position}", name=name, opener=lambda: open(path, "rb"))], []


def _zip_members(name, path, budget, position):
    try:
        archive = zipfile.ZipFile(path)
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise UploadError(f"{name} is not a complete ZIP file ({_short(error)})") from None
    files, ignored = [], []
    for member in members:
        if member.is_dir():
            continue
        # Only used as a label: never as a path on disk.
        label = member.filename.replace("\\", "/")
        if not is_history_name(label):
            ignored.append(PurePosixPath(label).name or label)
            continue
        files.append(
            HistoryFile(
                key=f"{position}/{label}",
                name=PurePosixPath(label).name,
                opener=_member_opener(path, member, budget, PurePosixPath(label).name),
            )
        )
    archive.close()
    return files, ignored


def _member_opener(path, member, budget, what):
    def opener():
        archive = zipfile.ZipFile(path)
        try:
            stream = archive.open(member)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as error:
            archive.close()
            raise FileError(f"{what} cannot be unpacked ({_short(error)})") from None
        return _MemberStream(_CountingReader(stream, budget, what), archive)

    return opener


class _MemberStream(io.BufferedReader):
    """A ZIP member's inflated bytes; closing it closes the archive too."""

    def __init__(self, raw, archive):
        super().__init__(raw)
        self._archive = archive

    def close(self):
        try:
            super().close()
        finally:
            self._archive.close()


def _short(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:120]


# --- streaming a JSON list ---------------------------------------------------------


def iter_json_list(raw, name):
    """Yield the elements of the JSON list in the binary stream ``raw``, one at a time.

    Each element is decoded by the standard library's C decoder (as fast as
    ``json.loads``) from a sliding window, so memory holds one window and one
    entry. Raises FileError when the stream is not a JSON list.
    """
    reader = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    decoder = json.JSONDecoder()
    buffer, pos, eof = "", 0, False

    def more():
        nonlocal buffer, pos, eof
        if eof:
            return False
        try:
            chunk = raw.read(READ_CHARS)
            text = reader.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise FileError(f"{name} is not JSON (it is not UTF-8 text)") from None
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
            raise FileError(f"{name} cannot be unpacked ({_short(error)})") from None
        if not chunk:
            eof = True
        buffer = buffer[pos:] + text
        pos = 0
        return True

    def skip_space():
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer) or not more():
                return buffer[pos] if pos < len(buffer) else ""

    first = skip_space()
    if first == "{":
        raise FileError(f"{name} holds no streaming history (a JSON object, not a list)")
    if first != "[":
        raise FileError(f"{name} is not JSON" if first else f"{name} is empty")
    pos += 1
    if skip_space() == "]":
        return
    while True:
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError:
                if len(buffer) - pos > MAX_ENTRY_CHARS:
                    raise FileError(f"{name} is not a Spotify history file") from None
                if not more():
                    raise FileError(f"{name} is not valid JSON (cut short?)") from None
            except RecursionError:
                raise FileError(f"{name} is nested too deeply to be history") from None
        pos = end
        yield value
        separator = skip_space()
        if separator == ",":
            pos += 1
            skip_space()
            continue
        if separator == "]":
            return
        raise FileError(f"{name} is not valid JSON (cut short?)")


# --- one entry ---------------------------------------------------------------------


def _text(value):
    if value is None:
        return None
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    return value[:MAX_TEXT_CHARS]


def _flag(value):
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1) and isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    return None


def _duration(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        if not value.strip().isdigit():
            return None
        value = int(value.strip())
    elif not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_MS_PLAYED else None


def _time(value, latest):
    if not isinstance(value, str) or not TIME_SHAPE.match(value.strip()):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment if EARLIEST <= moment <= latest else None


def _uuid(text):
    return uuid.UUID(bytes=hashlib.md5(text.encode(), usedforsecurity=False).digest())


def item_keys(kind, names, uri):
    """(key, match_key): identity by URI when there is one, else by the names as written;
    the matcher's key is (creator, title)."""
    identity = uri if uri else json.dumps(names, ensure_ascii=False)
    creator, title = _creator_title(kind, names)
    return _uuid(identity), _uuid(json.dumps([creator, title], ensure_ascii=False))


def _creator_title(kind, names):
    track, artist, _album, episode, show, book, chapter = names
    if kind == Kind.EPISODE:
        return show, episode
    if kind == Kind.CHAPTER:
        return book, chapter
    return artist, track


def parse_entry(value, latest, memo):
    """A Row (tuple in COLUMNS order) for one export entry, or None to skip it.

    Extended entries have ``ts``/``ms_played``; account-data entries
    ``endTime``/``msPlayed``. Private keys are never looked at.
    """
    get = value.get
    if "ts" in value or "ms_played" in value:
        source = Source.EXTENDED
        ts = _time(get("ts"), latest)
        ms = _duration(get("ms_played"))
        track, artist, album = (
            _text(get("master_metadata_track_name")),
            _text(get("master_metadata_album_artist_name")),
            _text(get("master_metadata_album_album_name")),
        )
        track_uri, episode, show, episode_uri = (
            _text(get("spotify_track_uri")),
            _text(get("episode_name")),
            _text(get("episode_show_name")),
            _text(get("spotify_episode_uri")),
        )
        book, book_uri, chapter, chapter_uri = (
            _text(get("audiobook_title")),
            _text(get("audiobook_uri")),
            _text(get("audiobook_chapter_title")),
            _text(get("audiobook_chapter_uri")),
        )
        details = (
            _text(get("platform")),
            _text(get("conn_country")),
            _text(get("reason_start")),
            _text(get("reason_end")),
            _flag(get("shuffle")),
            _flag(get("skipped")),
            _flag(get("offline")),
            _flag(get("incognito_mode")),
        )
    elif "endTime" in value or "msPlayed" in value:
        source = Source.ACCOUNT_DATA
        ts = _time(get("endTime"), latest)
        ms = _duration(get("msPlayed"))
        track, artist, album, track_uri = (
            _text(get("trackName")),
            _text(get("artistName")),
            None,
            None,
        )
        episode, show, episode_uri = _text(get("episodeName")), _text(get("podcastName")), None
        book = book_uri = chapter = chapter_uri = None
        details = (None,) * 8
    else:
        return None
    if ts is None or ms is None:
        return None
    if track_uri or track or artist or album:
        kind, uri = Kind.TRACK, track_uri
    elif episode_uri or episode or show:
        kind, uri = Kind.EPISODE, episode_uri
    elif chapter_uri or chapter or book or book_uri:
        kind, uri = Kind.CHAPTER, chapter_uri
    else:
        kind, uri = Kind.UNKNOWN, None
    names = (track, artist, album, episode, show, book, chapter)
    memo_key = (kind, uri, names)
    keys = memo.get(memo_key)
    if keys is None:
        keys = memo[memo_key] = item_keys(kind, names, uri)
    return (
        ts,
        ms,
        source,
        kind,
        *keys,
        track,
        artist,
        album,
        track_uri,
        episode,
        show,
        episode_uri,
        book,
        book_uri,
        chapter,
        chapter_uri,
        *details,
    )
