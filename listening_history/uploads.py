"""Uploaded files on their way to the worker: in PostgreSQL, compressed, in chunks.

Heroku's web and worker dynos have separate filesystems, so the request stores
each file as rows of at most CHUNK_BYTES (never one huge bytea) and the worker
writes them back into a temporary file of its own.
"""

import zlib
from pathlib import Path

from listening_history.models import UploadChunk, UploadFile

CHUNK_BYTES = 1024 * 1024
READ_BYTES = 256 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def store(upload, position, uploaded):
    """Store one Django UploadedFile for ``upload``; returns its UploadFile.

    A ZIP is compressed already and is stored as it is; anything else is
    deflated (JSON shrinks about tenfold).
    """
    head = uploaded.read(4)
    uploaded.seek(0)
    codec = UploadFile.Codec.STORED if head in ZIP_MAGIC else UploadFile.Codec.ZLIB
    record = UploadFile.objects.create(
        upload=upload,
        position=position,
        name=(Path(uploaded.name or "upload").name or "upload")[:255],
        size=uploaded.size or 0,
        codec=codec,
    )
    compressor = zlib.compressobj(6) if codec == UploadFile.Codec.ZLIB else None
    pending = bytearray()
    seq = 0

    def flush(final=False):
        nonlocal seq
        while len(pending) >= CHUNK_BYTES or (final and pending):
            UploadChunk.objects.create(file=record, seq=seq, data=bytes(pending[:CHUNK_BYTES]))
            del pending[:CHUNK_BYTES]
            seq += 1

    for piece in uploaded.chunks(READ_BYTES):
        pending += compressor.compress(piece) if compressor else piece
        flush()
    if compressor:
        pending += compressor.flush()
    flush(final=True)
    return record


def write_to(record, path):
    """Write UploadFile ``record``'s original bytes to ``path``, one chunk in memory at a time."""
    decompressor = zlib.decompressobj() if record.codec == UploadFile.Codec.ZLIB else None
    seqs = UploadChunk.objects.filter(file=record).order_by("seq").values_list("seq", flat=True)
    with open(path, "wb") as out:
        for seq in list(seqs):
            data = UploadChunk.objects.filter(file=record, seq=seq).values_list("data", flat=True)[
                0
            ]
            if decompressor is None:
                out.write(bytes(data))
                continue
            # Bounded output per call: highly repetitive JSON inflates a lot.
            data = bytes(data)
            while data:
                out.write(decompressor.decompress(data, CHUNK_BYTES))
                data = decompressor.unconsumed_tail
        if decompressor:
            out.write(decompressor.flush())
    return path
