"""Logging that keeps no secret: tokens and client addresses never reach a log line."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# Paths whose next segment is a secret link's token: a signature's, an address's, a password's.
_TOKEN_PATH = re.compile(r"/(confirm|withdraw|manage|organiser/password)/[^/?#\s\"]+")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


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


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors: time (UTC), level, logger, message, and
    the exception's traceback when there is one; tokens in paths redacted as in text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str) -> None:
    """The `petition` command's logging: INFO and above on standard error, as text or JSON."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)


def json_config(*servers: str) -> dict[str, Any]:
    """A logging dictConfig writing everything as JSON lines on standard error: for the HTTP
    server's own loggers (`servers`, which then pass their records on) and every other one,
    in each worker process the server starts."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {name: {"handlers": [], "propagate": True} for name in servers},
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }
