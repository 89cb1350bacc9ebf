"""The application served by a real uvicorn server on loopback, inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from petition.app import create_app
from petition.settings import Settings
from petition.web.deps import Services
from tests.support.clock import FakeClock


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    services: Services  # the server's own parts, to watch them work (its engines' events)

    def client(self) -> httpx.AsyncClient:
        """A browser-like client with its own cookie jar."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)


@asynccontextmanager
async def serve(settings: Settings, clock: FakeClock) -> AsyncIterator[LiveServer]:
    app = create_app(settings, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        ws="none",
        server_header=False,
        # As `petition serve`: the application alone decides whom to believe (trusted_proxies).
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            await task  # surfaces the start-up error
            raise RuntimeError("server did not start")
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", services=app.state.services)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()
