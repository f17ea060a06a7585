"""The dashboard's logger.

Every module of the dashboard logs as ``spotify_stats.stats``, the name its lines
had before stats.py was split by job, so that log lines (and the searches and
alerts built on them) stay as they were.
"""

import logging

logger = logging.getLogger("spotify_stats.stats")
