"""Logging that keeps no secret: tokens and client addresses never reach a log line."""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"/(confirm|withdraw)/[^/?#\s\"]+")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(r"/\1/<token>", text)


class RedactAccessLog(logging.Filter):
    """For uvicorn's access log, should an operator turn it on: no token, no client address."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            record.args = ("-", method, redact(str(path)), version, status)
        return True


def install_filters() -> None:
    # The PDF renderer's font subsetting reports every step at INFO: operators need none of it.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactAccessLog) for f in access.filters):
        access.addFilter(RedactAccessLog())
