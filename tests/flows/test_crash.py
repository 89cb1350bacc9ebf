"""A signature answered with success survives the server being killed; its mail still leaves."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import Signature, SignatureStatus
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import make_campaign, sign, signer
from tests.support.smtp import SmtpSink, free_port

SLUG = "mission-sante"


@dataclass
class Running:
    process: asyncio.subprocess.Process
    base_url: str


@asynccontextmanager
async def server_process(
    settings: Settings, smtp_port: int, *, sends: bool = True
) -> AsyncIterator[Running]:
    """`petition serve` in its own process, as an operator runs it."""
    port = free_port()
    env = {
        **os.environ,
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_VAR_DIR": str(settings.var_dir),
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_BASE_URL": f"http://127.0.0.1:{port}",
        "PETITION_PORT": str(port),
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(smtp_port),
        "PETITION_SMTP_TLS": "none",
        "PETITION_MAIL_RETRY_BASE": "0.2",
        "PETITION_MAIL_RETRY_MAX": "0.5",
        "PETITION_OUTBOX_POLL_INTERVAL": "0.2",
        "PETITION_RUN_MAIL_SENDER": "true" if sends else "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petition.cli", "serve",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        await _until_healthy(base_url)
        yield Running(process, base_url)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=15)


async def _until_healthy(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as probe:
        for _ in range(150):
            try:
                if (await probe.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")


async def test_killed_server_loses_no_signature_and_mail_leaves_after_restart(
    settings: Settings, sessions: SessionFactory, clock: FakeClock
) -> None:
    await make_campaign(sessions, clock)
    smtp_port = free_port()  # down while the first server runs
    # No sender in the first process: killed while it held the mail, its lease (5 minutes)
    # would delay the mail beyond this test; what is tested is that the mail was written.
    async with server_process(settings, smtp_port, sends=False) as first:
        async with httpx.AsyncClient(base_url=first.base_url) as browser:
            answer = await sign(browser, SLUG, signer("survivor@example.org"))
        assert answer.status_code == 303
        first.process.send_signal(signal.SIGKILL)  # no shutdown, no flush, no goodbye
        await asyncio.wait_for(first.process.wait(), timeout=10)

    async with sessions() as session:
        row = (await session.execute(select(Signature))).scalar_one()
    assert row.status is SignatureStatus.PENDING

    sink = SmtpSink(port=smtp_port)
    sink.start()
    try:
        async with server_process(settings, smtp_port):
            [mail] = await sink.wait_for(1, within=20)
    finally:
        sink.stop()
    assert mail["To"] == "survivor@example.org"
