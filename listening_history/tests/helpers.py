"""Building export files and running imports in tests (the real task code, no mocks)."""

import io
import json
import zipfile

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from listening_history import services
from listening_history.models import Import
from listening_history.tasks import import_history


def listener(name="alice"):
    return get_user_model().objects.create_user(username=name, first_name=name.title())


def extended(ts, ms, track="Song", artist="Band", album="Record", uri=None, **extra):
    """An extended-history entry (the private keys included, as Spotify sends them)."""
    entry = {
        "ts": ts,
        "username": "private-name",
        "platform": "Android OS 14",
        "ms_played": ms,
        "conn_country": "SE",
        "ip_addr": "192.0.2.1",
        "ip_addr_decrypted": "192.0.2.2",
        "user_agent_decrypted": "private agent",
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": album,
        "spotify_track_uri": uri if uri is not None else f"spotify:track:{track}-{artist}",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": None,
        "offline": False,
        "offline_timestamp": 1709316251,
        "incognito_mode": False,
    }
    entry.update(extra)
    return entry


def account(end_time, ms, artist="Band", track="Song"):
    return {"endTime": end_time, "artistName": artist, "trackName": track, "msPlayed": ms}


def json_upload(name, content):
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    return SimpleUploadedFile(name, data, content_type="application/json")


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            data = content if isinstance(content, bytes) else json.dumps(content).encode()
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_upload(name, members):
    return SimpleUploadedFile(name, zip_bytes(members), content_type="application/zip")


def run_import(user, *files):
    """Upload ``files`` as the page does, run the worker's task for it, return the Import."""
    upload = services.start_import(user=user, files=list(files))
    import_history.call(str(upload.pk))
    return Import.objects.get(pk=upload.pk)


def stored(user):
    """The listener's history as comparable tuples, every stored field recovered."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.ts, e.ms_played, e.source, i.kind, i.track_name, a.name, al.name,
                   i.track_uri, i.episode_name, i.show_name, i.episode_uri,
                   i.audiobook_title, i.audiobook_uri, i.chapter_title, i.chapter_uri,
                   p.text, c.text, rs.text, re.text,
                   e.shuffle, e.skipped, e.offline, e.incognito_mode
            FROM listening_history_entry e
            JOIN listening_history_item i ON i.id = e.item_id
            LEFT JOIN listening_history_artist a ON a.id = i.artist_id
            LEFT JOIN listening_history_album al ON al.id = i.album_id
            LEFT JOIN listening_history_term p ON p.id = e.platform_id
            LEFT JOIN listening_history_term c ON c.id = e.conn_country_id
            LEFT JOIN listening_history_term rs ON rs.id = e.reason_start_id
            LEFT JOIN listening_history_term re ON re.id = e.reason_end_id
            WHERE e.user_id = %s
            ORDER BY 1, 2, 5, 3
            """,
            [user.pk],
        )
        return cursor.fetchall()
