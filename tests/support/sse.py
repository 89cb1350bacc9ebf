"""A minimal Server-Sent Events client on a raw socket: light enough to open hundreds at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Event:
    name: str
    id: str | None
    data: dict[str, object]


class Watcher:
    """One browser's EventSource: HTTP/1.1, chunked transfer decoded, events parsed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._text = ""
        self.headers: dict[str, str] = {}

    @classmethod
    async def open(cls, url: str) -> Watcher:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        watcher = cls(reader, writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = head[0].split(" ")[1]
        watcher.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:] if line)
        }
        watcher.headers[":status"] = status
        return watcher

    async def next_event(self, within: float) -> Event:
        """The next event (comments and retry lines skipped), or TimeoutError."""
        async with asyncio.timeout(within):
            while True:
                block, separator, rest = self._text.partition("\n\n")
                if separator:
                    self._text = rest
                    event = _parse(block)
                    if event is not None:
                        return event
                    continue
                self._text += await self._chunk()

    async def count_after(self, previous: int, within: float) -> int:
        """Wait for an event whose count differs from `previous`, and return it."""
        async with asyncio.timeout(within):
            while True:
                event = await self.next_event(within)
                count = event.data["count"]
                assert isinstance(count, int)
                if count != previous:
                    return count

    async def _chunk(self) -> str:
        size_line = await self._reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            raise ConnectionError("the stream ended")
        data = await self._reader.readexactly(size + 2)
        return data[:-2].decode()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):  # the server may have closed first
            await self._writer.wait_closed()


def _parse(block: str) -> Event | None:
    name, ident, data = "message", None, []
    for line in block.split("\n"):
        field, _, value = line.partition(": ")
        if field == "event":
            name = value
        elif field == "id":
            ident = value
        elif field == "data":
            data.append(value)
    if not data:
        return None  # a comment or a retry line only
    return Event(name, ident, json.loads("\n".join(data)))
