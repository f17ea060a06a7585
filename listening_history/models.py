"""A listener's imported listening history, and the imports that brought it.

Storage is shaped for size and speed (a heavy listener has 250,000 entries):
an :class:`Entry` is a narrow row of numbers whose names live once per listener
in lookup tables (:class:`Item` for what was played, :class:`Artist`,
:class:`Album`, :class:`Term` for platforms, countries and reasons). Every
stored field of an export entry can be recovered from them (the export issue
relies on it). Everything belongs to one listener (``user``) and goes with them:
every foreign key to the user is ``ON DELETE CASCADE`` in PostgreSQL itself, so
deleting a listener anywhere (disconnect, the admin) deletes their history
without loading it into Python.
"""

import uuid

from django.conf import settings
from django.db import models


class Source(models.IntegerChoices):
    """Where an entry came from; a lower value wins when two sources saw one play."""

    EXTENDED = 1, "Extended streaming history"
    ACCOUNT_DATA = 2, "Account data"
    # Reserved for the Web API sync (a later issue): the matcher already ranks it last.
    SYNC = 3, "Sync"


class Kind(models.IntegerChoices):
    TRACK = 1, "track"
    EPISODE = 2, "episode"
    CHAPTER = 3, "audiobook chapter"
    UNKNOWN = 0, "unknown"


class Import(models.Model):
    """One upload of export files, read by the worker (``listening_history.importer``)."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DB_CASCADE,
        related_name="history_imports",
        db_index=False,
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # Counts, as the status JSON names them.
    files = models.IntegerField(default=0, help_text="History files read.")
    entries = models.IntegerField(default=0, help_text="Entries read so far.")
    added = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    upload_bytes = models.BigIntegerField(default=0, help_text="Size of the upload as sent.")
    upload_names = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Incremented by every run: a run only writes while the import still carries
    # its number (a run the sweeper gave up on cannot write after the next began).
    attempt = models.IntegerField(default=0)
    # History files already staged (committed), so a re-run after a kill skips them.
    staged_files = models.JSONField(default=list, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # Upload files this import read whole, for an upload of the same bytes to reuse
    # (``importer._merge_known``): sha256, files, entries, inflated, first, last.
    fingerprints = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="lh_import_user_created")]

    def __str__(self):
        return f"Import {self.id} ({self.state})"

    @property
    def active(self):
        return self.state in self.ACTIVE_STATES


class UploadFile(models.Model):
    """One uploaded file (a ZIP or a JSON), waiting in PostgreSQL for the worker.

    Web and worker dynos have separate filesystems, so the bytes travel through
    the database in :class:`UploadChunk` rows, deleted when the import ends.
    """

    class Codec(models.TextChoices):
        ZLIB = "zlib"  # JSON, deflated on the way in
        STORED = "stored"  # a ZIP is compressed already

    upload = models.ForeignKey(
        Import, on_delete=models.DB_CASCADE, related_name="upload_files", db_index=False
    )
    position = models.IntegerField()
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    codec = models.CharField(max_length=10, choices=Codec.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "position"], name="lh_uploadfile_position")
        ]

    def __str__(self):
        return self.name


class UploadChunk(models.Model):
    file = models.ForeignKey(
        UploadFile, on_delete=models.DB_CASCADE, related_name="chunks", db_index=False
    )
    seq = models.IntegerField()
    data = models.BinaryField()  # at most listening_history.uploads.CHUNK_BYTES

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "seq"], name="lh_uploadchunk_seq")]

    def __str__(self):
        return f"chunk {self.seq} of {self.file_id}"


class Artist(models.Model):
    id = models.AutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    name = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="lh_artist_name")]

    def __str__(self):
        return self.name


class Album(models.Model):
    id = models.AutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    artist = models.ForeignKey(
        Artist,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    name = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "artist", "name"], name="lh_album_name", nulls_distinct=False
            )
        ]

    def __str__(self):
        return self.name


class Item(models.Model):
    """What was played (a track, an episode, an audiobook chapter), once per listener.

    ``key`` is the identity: the Spotify URI when the entry has one, else its
    names (``reader.item_key``). ``match_key`` is what the cross-source matcher
    compares: the creator and the title as written (artist and track, show and
    episode, audiobook and chapter).
    """

    id = models.AutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    key = models.UUIDField()
    match_key = models.UUIDField()
    kind = models.SmallIntegerField(choices=Kind.choices)
    # NULL and "" are different things in an export, and both are kept as written.
    track_name = models.TextField(null=True)  # noqa: DJ001
    artist = models.ForeignKey(
        Artist,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    album = models.ForeignKey(
        Album,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    track_uri = models.TextField(null=True)  # noqa: DJ001
    episode_name = models.TextField(null=True)  # noqa: DJ001
    show_name = models.TextField(null=True)  # noqa: DJ001
    episode_uri = models.TextField(null=True)  # noqa: DJ001
    audiobook_title = models.TextField(null=True)  # noqa: DJ001
    audiobook_uri = models.TextField(null=True)  # noqa: DJ001
    chapter_title = models.TextField(null=True)  # noqa: DJ001
    chapter_uri = models.TextField(null=True)  # noqa: DJ001

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="lh_item_key")]

    def __str__(self):
        if self.kind == Kind.EPISODE:
            return f"{self.episode_name} ({self.show_name})"
        if self.kind == Kind.CHAPTER:
            return f"{self.chapter_title} ({self.audiobook_title})"
        return str(self.track_name)


class Term(models.Model):
    """A platform, country or reason string, once per listener (entries hold its id)."""

    id = models.AutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "text"], name="lh_term_text")]

    def __str__(self):
        return self.text


class Entry(models.Model):
    """One entry of an export: when a stream ended, how long it played, what it was.

    The primary key is the identity (listener, end time, duration, item): the
    same entry imported twice is stored once. No surrogate id; about 110 bytes a
    row with its primary key. One more index, by item (items are the listener's
    own), covers what an artist's or a track's page reads (``lh_entry_item``):
    without it each of that page's queries reads the listener's whole history
    (4 x 70 ms for 500,000 entries).
    """

    pk = models.CompositePrimaryKey("user_id", "ts", "item_id", "ms_played")
    # ts first: an 8-byte column after a 4-byte one would cost 4 bytes of padding a row.
    ts = models.DateTimeField(help_text="When the stream ended (UTC).")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    # No database constraint: items are the listener's and go with them; a
    # constraint would cost a lookup for every row of a bulk insert.
    item = models.ForeignKey(
        Item, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    ms_played = models.IntegerField()
    source = models.SmallIntegerField(choices=Source.choices)
    platform = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    conn_country = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    reason_start = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    reason_end = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    shuffle = models.BooleanField(null=True)
    skipped = models.BooleanField(null=True)
    offline = models.BooleanField(null=True)
    incognito_mode = models.BooleanField(null=True)

    class Meta:
        verbose_name_plural = "entries"
        indexes = [
            # Index-only scans for the detail pages: what they filter, group and sum.
            models.Index(fields=["item", "ts"], include=["ms_played", "user"], name="lh_entry_item")
        ]

    def __str__(self):
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.ms_played} ms"


class StagedEntry(models.Model):
    """An entry read by a running import and waiting for its one merge.

    Files are staged (and committed) one at a time, so a run that was killed
    resumes after the last staged file; the merge then sees the whole upload at
    once, which keeps the cross-source matching independent of file order.
    """

    pk = models.CompositePrimaryKey("upload_id", "seq")
    seq = models.BigIntegerField()
    ts = models.DateTimeField()
    upload = models.ForeignKey(
        Import, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    item = models.ForeignKey(
        Item, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    ms_played = models.IntegerField()
    source = models.SmallIntegerField(choices=Source.choices)
    platform = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    conn_country = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    reason_start = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    reason_end = models.ForeignKey(
        Term,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    shuffle = models.BooleanField(null=True)
    skipped = models.BooleanField(null=True)
    offline = models.BooleanField(null=True)
    incognito_mode = models.BooleanField(null=True)

    def __str__(self):
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.ms_played} ms"


from listening_history.insight_models import (  # noqa: E402, F401
    ListenerZone,
    PrecomputedSummary,
    RecapShare,
    SyncedPlay,
    SyncState,
)
