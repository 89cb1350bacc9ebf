"""What makes a fuzz example fail: an answer of 500 or more, or an error or traceback in the log.

The server runs in this process (tests.support.server), so its log records reach a handler on the
root logger, attached once the app is created (Litestar replaces the root logger's handlers
then): the application's own `log.exception`, uvicorn's "Exception in ASGI application",
asyncio's "Task exception was never retrieved", the mail sender's failures. A record logged while
a request was being answered is reported with that request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

EXCERPT_BYTES = 300
TRACEBACK_LINES = 30
_FORMAT = logging.Formatter("%(levelname)s %(name)s: %(message)s")


@dataclass(frozen=True)
class Sent:
    """One request as it went on the wire, for the failure message."""

    method: str
    target: str  # path and query, as sent
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def describe(self) -> str:
        shown = {k: _shorten(v) for k, v in self.headers.items() if k.lower() != "content-length"}
        excerpt = self.body[:EXCERPT_BYTES]
        more = f" … ({len(self.body)} bytes in all)" if len(self.body) > EXCERPT_BYTES else ""
        target = _shorten(self.target)
        return f"{self.method} {target}\n  headers: {shown}\n  body: {excerpt!r}{more}"


class ServerLog(logging.Handler):
    """Keeps every record at WARNING and above, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._records: list[logging.LogRecord] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self._records.append(record)

    def mark(self) -> int:
        # Logging reconfigured after the handler was attached (Litestar configures the root
        # logger when the app is created) would silently blind the check.
        if self not in logging.getLogger().handlers:
            raise RuntimeError("the server-log handler is no longer on the root logger")
        with self._guard:
            return len(self._records)

    def problems_since(self, mark: int) -> list[logging.LogRecord]:
        """Records at ERROR and above, or carrying a traceback, logged after `mark`."""
        with self._guard:
            recent = self._records[mark:]
        return [r for r in recent if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]

    @contextmanager
    def attached(self) -> Iterator[ServerLog]:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


def judge(
    log: ServerLog,
    sent: Sent,
    status: int,
    since: int,
    *,
    expected: frozenset[int] | None = None,
) -> None:
    """Fail, naming the request, on a 5xx, a logged error or traceback, or a status not among
    `expected` when they are given."""
    problems = log.problems_since(since)
    unexpected = expected is not None and status not in expected
    if not (status >= 500 or unexpected) and not problems:
        return
    lines = [f"the server answered {status} to:", sent.describe()]
    if unexpected:
        lines.insert(0, f"expected one of {sorted(expected or ())}")
    lines += [f"server log: {excerpt(record)}" for record in problems]
    raise AssertionError("\n".join(lines))


def assert_quiet(log: ServerLog, since: int, when: str) -> None:
    """Fail if anything was logged as an error since `since` (work done outside any request)."""
    problems = log.problems_since(since)
    if problems:
        logged = "\n".join(excerpt(record) for record in problems)
        raise AssertionError(f"the server logged an error {when}:\n{logged}")


def excerpt(record: logging.LogRecord) -> str:
    """The record's message and the end of its traceback, where the error was raised."""
    lines = _FORMAT.format(record).splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = [lines[0], "  …", *lines[-(TRACEBACK_LINES - 2) :]]
    return "\n".join(lines)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
