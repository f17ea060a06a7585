"""One line per event, whatever the message carries."""

import logging
import sys

from euterpe_site.logging import OneLineFormatter
from tests.support import settings_error, settings_module


def _record(msg, *args, exc_info=None):
    return logging.LogRecord("euterpe.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_newlines_from_outside_are_escaped_so_nobody_can_forge_a_line():
    formatter = OneLineFormatter("%(levelname)s %(message)s")

    line = formatter.format(_record("Logged in %s", "Ada\nINFO forged line\r"))

    assert line == "INFO Logged in Ada\\nINFO forged line\\r"


def test_a_traceback_keeps_its_lines_after_the_one_line_message():
    formatter = OneLineFormatter("%(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()

    text = formatter.format(_record("failed for %s", "a\nb", exc_info=exc_info))

    first, *rest = text.splitlines()
    assert first == "failed for a\\nb"
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"


def test_log_level_comes_from_the_environment():
    logging_config = settings_module(LOG_LEVEL="warning")["LOGGING"]

    assert logging_config["root"]["level"] == "WARNING"
    assert logging_config["loggers"]["django"]["level"] == "WARNING"


def test_an_invalid_log_level_stops_start_up_with_one_line():
    assert settings_error(LOG_LEVEL="loud") == (
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"
    )
