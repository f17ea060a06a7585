import logging


class OneLineFormatter(logging.Formatter):
    """One line per event: newlines in the message (which may carry values from
    outside, such as a Spotify display name) are escaped, so nobody can forge a
    log line. Tracebacks keep their lines."""

    def formatMessage(self, record):
        record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)
