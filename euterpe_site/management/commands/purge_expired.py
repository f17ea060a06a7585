import json

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.services import purge_refused_logins
from listening_history.sync import purge_synced
from spotify_stats.cache import purge_expired_entries


class Command(BaseCommand):
    help = (
        "Delete expired cache entries (cached Spotify data), expired sessions, refused "
        "logins older than 90 days and synced history entries older than "
        "HISTORY_SYNC_RETENTION_DAYS (imported ones are never touched). "
        "Run it hourly from Heroku Scheduler: Spotify's terms forbid keeping its content "
        "longer than needed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        counts = {
            "cache_entries": purge_expired_entries(dry_run=dry_run),
            "sessions": self._purge_sessions(dry_run=dry_run),
            "refused_logins": purge_refused_logins(dry_run=dry_run),
            "synced_entries": purge_synced(dry_run=dry_run),
        }
        if options["json"]:
            self.stdout.write(json.dumps({**counts, "dry_run": dry_run}))
            return
        verb = "Would delete" if dry_run else "Deleted"
        for name, label, unknown in (
            ("cache_entries", "expired cache entries", "the cache (Redis) expires entries itself"),
            ("sessions", "expired sessions", "sessions cleared; this backend does not count"),
            ("refused_logins", "refused logins older than 90 days", None),
            (
                "synced_entries",
                f"synced history entries older than {settings.HISTORY_SYNC_RETENTION_DAYS} days",
                None,
            ),
        ):
            count = counts[name]
            self.stdout.write(unknown if count is None else f"{verb} {count} {label}")

    def _purge_sessions(self, *, dry_run):
        """Django's own `clearsessions` (`SessionStore.clear_expired()`), counted first.

        The count is of the sessions expired just before clearing; None when the
        session backend keeps no table to count (its store expires entries itself).
        """
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
        count = None
        if issubclass(store, DatabaseSessionStore):
            expired = store.get_model_class().objects.filter(expire_date__lt=timezone.now())
            count = expired.count()
        if not dry_run:
            store.clear_expired()
        return count
