"""Re-encrypt every stored Spotify token under the first key of ENCRYPTION_KEY.

Rotation: set ENCRYPTION_KEY=new,old, deploy, run this, then drop old. It first
prints the fingerprint of the key it encrypts with and of each key it accepts.
"""

import hashlib

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import SpotifyToken


def fingerprint(key):
    """The first 8 hex digits of the SHA-256 of a key as written in ENCRYPTION_KEY."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Spotify token under the first key of ENCRYPTION_KEY "
        "(run with ENCRYPTION_KEY=new,old; afterwards the old key can go). Rows no key "
        "decrypts are reported and left untouched; the command then exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row, change nothing."
        )

    def handle(self, *args, dry_run=False, **options):
        # Fingerprints, never keys: the operator compares them with
        # `printf %s "$KEY" | sha256sum | cut -c1-8` to catch old,new for new,old.
        keys = [fingerprint(key) for key in settings.FERNET_KEYS]
        self.stdout.write(f"Encrypting with key {keys[0]} (the first of ENCRYPTION_KEY).")
        self.stdout.write(f"Accepting keys {', '.join(keys)} (SHA-256, first 8 hex digits).")
        rotated = 0
        undecryptable = []
        rows = SpotifyToken.objects.order_by("pk").values_list("pk", "user_id")
        for pk, user_id in rows:
            with transaction.atomic():
                try:
                    token = SpotifyToken.objects.select_for_update().filter(pk=pk).first()
                except InvalidToken:
                    undecryptable.append(user_id)
                    continue
                if token is None:  # disconnected meanwhile
                    continue
                if not dry_run:
                    # update() encrypts with the first key; nothing else changes.
                    SpotifyToken.objects.filter(pk=pk).update(
                        access_token=token.access_token, refresh_token=token.refresh_token
                    )
                rotated += 1
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {rotated} token row{'s' if rotated != 1 else ''} "
                "under the first key of ENCRYPTION_KEY."
            )
        )
        if undecryptable:
            users = ", ".join(f"#{user_id}" for user_id in undecryptable)
            raise CommandError(
                f"{len(undecryptable)} token row(s) could not be decrypted with any key in "
                f"ENCRYPTION_KEY and were left as they are (users {users}); those listeners "
                "must log in again, or add the missing key and rerun."
            )
