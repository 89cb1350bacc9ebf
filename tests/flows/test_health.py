"""A load balancer asks /readyz whether to send visitors to this process, a supervisor asks
/healthz whether it still answers: ready only while the database answers, Redis too when the
site uses it, and the mail leaves; alive whatever else fails."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import sign, signer
from tests.support.public import eventually
from tests.support.server import LiveServer, serve
from tests.support.settings import for_tests
from tests.support.smtp import SmtpSink, free_port

SLUG = "mission-sante"
READY = {"status": "ready", "checks": {"database": "ok", "redis": "not used", "outbox": "ok"}}
pytestmark = pytest.mark.usefixtures("campaign")


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    answer = await client.get("/readyz")
    assert answer.headers["cache-control"] == "no-store"
    assert "set-cookie" not in answer.headers
    return answer.status_code, answer.json()


async def test_a_site_in_order_is_alive_and_ready(server: LiveServer) -> None:
    async with server.client() as client:
        alive = await client.get("/healthz")
        assert (alive.status_code, alive.text) == (200, "ok")
        assert await readiness(client) == (200, READY)
        assert (await client.head("/readyz")).status_code == 200


async def test_ready_with_the_redis_server_it_uses(
    settings: Settings, clock: FakeClock, redis_url: str
) -> None:
    async with (
        serve(dataclasses.replace(settings, redis_url=redis_url), clock) as live,
        live.client() as client,
    ):
        status, body = await readiness(client)
    assert (status, body["checks"]["redis"]) == (200, "ok")


async def test_not_ready_when_its_redis_server_does_not_answer(
    settings: Settings, clock: FakeClock
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/8"
    async with (
        serve(dataclasses.replace(settings, redis_url=nowhere), clock) as live,
        live.client() as client,
    ):
        status, body = await readiness(client)
        alive = await client.get("/healthz")
    assert (status, body["status"]) == (503, "not ready")
    assert body["checks"] == {"database": "ok", "redis": "unreachable", "outbox": "ok"}
    assert alive.status_code == 200


async def test_not_ready_while_the_database_is_out_of_reach_and_ready_again_after(
    database_url: str, tmp_path: Path, smtp: SmtpSink, clock: FakeClock
) -> None:
    """PostgreSQL behind a link the test cuts, as a network failure or a stopped server would.
    (An embedded SQLite file stays open in the process: it cannot go out of reach.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("only a database server can go out of reach of a running process")
    target = make_url(database_url)
    async with relay(target.host or "127.0.0.1", target.port or 5432) as link:
        through = target.set(host="127.0.0.1", port=link.port)
        settings = for_tests(
            tmp_path / "var",
            through.render_as_string(hide_password=False),
            smtp.port,
            live_backend="memory",  # no LISTEN connection to lose besides
        )
        async with serve(settings, clock) as live, live.client() as client:
            assert await readiness(client) == (200, READY)
            await link.cut()
            status, body = await readiness(client)
            assert (status, body["status"]) == (503, "not ready")
            assert body["checks"] == {
                "database": "unreachable", "redis": "not used", "outbox": "unknown",
            }  # fmt: skip
            assert (await client.get("/healthz")).status_code == 200
            await link.restore()
            assert await readiness(client) == (200, READY)


async def test_not_ready_when_mail_waits_with_no_sender_running(
    settings: Settings, clock: FakeClock, smtp: SmtpSink
) -> None:
    """The web processes leave the mail to `petition worker`, which is down."""
    quiet = dataclasses.replace(settings, run_mail_sender=False, ready_outbox_max_age=60)
    async with serve(quiet, clock) as live, live.client() as browser:
        assert (await sign(browser, SLUG, signer())).status_code == 303
        assert (await readiness(browser))[0] == 200  # queued just now
        clock.advance(seconds=60)
        assert (await readiness(browser))[0] == 200  # 60 s: not more than allowed
        clock.advance(seconds=1)
        status, body = await readiness(browser)
    assert (status, body["status"]) == (503, "not ready")
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["outbox"] == "a mail has waited 61 s to leave (more than 60)"
    assert smtp.messages == []


async def test_not_ready_while_the_mail_server_defers_and_ready_once_the_mail_left(
    settings: Settings, clock: FakeClock, smtp: SmtpSink
) -> None:
    address = "camille@example.org"
    smtp.hold.add(address)  # answered 451 "try again later", at once
    smtp.release.set()
    patient = dataclasses.replace(settings, ready_outbox_max_age=60)
    async with serve(patient, clock) as live, live.client() as browser:
        assert (await sign(browser, SLUG, signer(address))).status_code == 303
        clock.advance(seconds=90)
        _, body = await eventually(
            lambda: readiness(browser), lambda answer: answer[0] == 503, within=10
        )  # once the first attempt is written down
        assert body["checks"]["outbox"] == "a mail has waited 90 s to leave (more than 60)"
        smtp.hold.clear()  # the mail server accepts it at the next attempt
        clock.advance(seconds=5)  # past the retry's backoff
        await smtp.wait_for(1)
        await eventually(lambda: readiness(browser), lambda answer: answer[0] == 200, within=10)


@dataclasses.dataclass
class Relay:
    """A TCP link to a server, which the test cuts and restores."""

    host: str
    target: int
    port: int = 0
    _server: asyncio.Server | None = None
    _links: set[asyncio.StreamWriter] = dataclasses.field(default_factory=set)

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """New connections refused, open ones closed."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.close()
        self._links.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(self.host, self.target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, upstream}
        await asyncio.gather(
            _copy(reader, upstream), _copy(upstream_reader, writer), return_exceptions=True
        )
        for end in (writer, upstream):
            end.close()
            self._links.discard(end)


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while data := await source.read(65536):
        sink.write(data)
        await sink.drain()
    with contextlib.suppress(OSError):
        sink.write_eof()


@contextlib.asynccontextmanager
async def relay(host: str, port: int) -> AsyncIterator[Relay]:
    link = Relay(host, port)
    await link.restore()
    try:
        yield link
    finally:
        await link.cut()
