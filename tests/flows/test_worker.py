"""The operator runs the mail sender as `petition worker` beside two web processes that send
nothing: every signer gets their confirmation once, the outbox ends empty and erased, and the
worker stops at once, cleanly, when told to."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO

import httpx
import pytest
from sqlalchemy import select

from petition.db import SessionFactory
from petition.models import OutboxMail, OutboxStatus
from petition.settings import Settings
from tests.support.journey import sign, signer
from tests.support.process import petition_serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
SIGNERS = 60
STARTED = "worker started"
pytestmark = pytest.mark.usefixtures("campaign")


def site_env(settings: Settings, smtp: SmtpSink) -> dict[str, str]:
    """What every process of the site shares: the database, the secret, the mail server."""
    unlimited = "100000"  # one test machine signs 60 times from one address, at once
    return {
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_VAR_DIR": str(settings.var_dir),
        "PETITION_BASE_URL": settings.base_url,
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(smtp.port),
        "PETITION_SMTP_TLS": "none",
        # Nothing wakes a worker when another process queues mail: it looks this often.
        "PETITION_OUTBOX_POLL_INTERVAL": "0.2",
        "PETITION_FORM_MIN_SECONDS": "0",
        "PETITION_BURST_LIMIT": unlimited,
        "PETITION_SUSTAINED_LIMIT": unlimited,
        "PETITION_NOJS_BURST_LIMIT": unlimited,
        "PETITION_NOJS_SUSTAINED_LIMIT": unlimited,
    }


@dataclass(frozen=True)
class Worker:
    process: asyncio.subprocess.Process
    log: IO[bytes]  # what it wrote on its standard error, so far


@asynccontextmanager
async def petition_worker(env: Mapping[str, str]) -> AsyncIterator[Worker]:
    """`petition worker` as systemd runs it; yielded once it says it has started."""
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "petition.cli", "worker",
            env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            await _until_started(process, log)
            yield Worker(process, log)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _until_started(process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    for _ in range(300):
        if STARTED in _text(log) or process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    assert STARTED in _text(log), _text(log)


def _text(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


async def test_a_worker_sends_the_mail_of_two_web_processes_once_each_and_stops_cleanly(
    settings: Settings, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    env = site_env(settings, smtp)
    web = {**env, "PETITION_RUN_MAIL_SENDER": "0"}
    addresses = [f"soignant{n}@example.org" for n in range(SIGNERS)]

    async with (
        petition_serve(web) as first,
        petition_serve(web) as second,
        petition_worker(env) as worker,
    ):

        async def one(base_url: str, address: str) -> int:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as browser:
                return (await sign(browser, SLUG, signer(address))).status_code

        bases = [first.base_url, second.base_url]
        statuses = await asyncio.gather(
            *(one(bases[n % 2], address) for n, address in enumerate(addresses))
        )
        assert statuses == [303] * SIGNERS
        await smtp.wait_for(SIGNERS, within=60)
        await asyncio.sleep(1.5)  # a duplicate would arrive in this window

        loop = asyncio.get_running_loop()
        asked = loop.time()
        worker.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.process.wait(), timeout=10)
        stopped_after = loop.time() - asked
        log = _text(worker.log)

    received = Counter(str(m["To"]) for m in smtp.messages)
    assert sorted(received) == sorted(addresses)
    assert set(received.values()) == {1}
    assert worker.process.returncode == 0, log
    assert stopped_after < 5, f"stopped {stopped_after:.1f} s after SIGTERM"
    assert "Traceback" not in log and "worker stopped" in log, log
    async with sessions() as session:
        rows = (await session.execute(select(OutboxMail))).scalars().all()
    assert len(rows) == SIGNERS
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    assert all(r.to_address is None and r.body_text is None and r.context is None for r in rows)
