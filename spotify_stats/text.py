"""Times in words and in ISO 8601, as the dashboard shows them."""

from datetime import UTC, datetime


def ago(seconds):
    """'just now', '1 minute ago', '12 minutes ago', '3 hours ago', '2 days ago'."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = seconds // size
        if count:
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def as_of_iso(epoch):
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
