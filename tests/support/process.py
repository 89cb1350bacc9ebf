"""`petition serve` as operators run it: a separate process, stopped by its PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO

import httpx

from petition.settings import Settings
from tests.support.smtp import free_port


def site_env(settings: Settings, smtp_port: int, **more: str) -> dict[str, str]:
    """What every process of a test's site shares: its database, secret, address and mail
    server; `more` as PETITION_<NAME> variables (e.g. workers="2")."""
    return {
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_VAR_DIR": str(settings.var_dir),
        "PETITION_BASE_URL": settings.base_url,
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(smtp_port),
        "PETITION_SMTP_TLS": "none",
        **{f"PETITION_{name.upper()}": value for name, value in more.items()},
    }


@dataclass(frozen=True)
class Served:
    base_url: str
    pid: int
    process: asyncio.subprocess.Process
    log: IO[bytes]  # what the server wrote on its standard error, so far

    def kill(self) -> None:
        """SIGKILL to the server and every process it started (its workers): a power cut."""
        os.killpg(self.pid, signal.SIGKILL)

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@asynccontextmanager
async def petition_serve(env: Mapping[str, str]) -> AsyncIterator[Served]:
    """Start a server process with these PETITION_* variables; yield its address and PID."""
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in the finally below
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "petition.cli",
        "serve",
        env={**os.environ, **env, "PETITION_HOST": "127.0.0.1", "PETITION_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,  # a group of its own, which kill() ends whole
    )
    base = f"http://127.0.0.1:{port}"
    served = Served(base, process.pid, process, log)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            for _ in range(150):
                if process.returncode is not None:
                    break
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("petition serve did not answer within 15 s")
        if process.returncode is not None:
            raise RuntimeError(served.log_text())
        yield served
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
