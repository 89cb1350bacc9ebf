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
from sqlalchemy import select, update

from petition import schedule
from petition.db import SessionFactory
from petition.models import CounterShard, OutboxMail, OutboxStatus
from petition.settings import Settings
from tests.support import process
from tests.support.journey import link, press, settled_count, sign, signer
from tests.support.process import petition_serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
SIGNERS = 60
STARTED = "worker started"
pytestmark = pytest.mark.usefixtures("campaign")


def site_env(settings: Settings, smtp: SmtpSink) -> dict[str, str]:
    """What every process of the site shares, without the limits (60 signings at once from
    one test machine's address)."""
    unlimited = "100000"
    return process.site_env(
        settings,
        smtp.port,
        # Nothing wakes a worker when another process queues mail: it looks this often.
        outbox_poll_interval="0.2",
        form_min_seconds="0",
        burst_limit=unlimited,
        sustained_limit=unlimited,
        nojs_burst_limit=unlimited,
        nojs_sustained_limit=unlimited,
    )


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


PERIOD_MINUTES = 0.03  # 1.8 s: several periods within the test
JOBS = {"purge": "scheduled retention purge ran", "counts_check": "scheduled counts check ran"}


async def test_jobs_run_once_per_period_across_processes_and_counts_agree_everywhere(
    settings: Settings, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    """Two web processes and a worker, all three willing to send mail and run the scheduled
    jobs, on one database: each mail leaves once, each job runs once per period (not once per
    process), a counter that drifted is repaired once, and both web processes show the count."""
    if settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("several hosts share one database on PostgreSQL only")
    env = {
        **site_env(settings, smtp),
        "PETITION_PURGE_MINUTES": str(PERIOD_MINUTES),
        "PETITION_COUNTS_CHECK_MINUTES": str(PERIOD_MINUTES),
        "PETITION_LIVE_RESYNC": "60",  # the repaired count must come by the bus, not a resync
    }
    period = PERIOD_MINUTES * 60
    addresses = [f"infirmier{n}@example.org" for n in range(20)]
    loop = asyncio.get_running_loop()
    began = loop.time()  # the jobs may run from the first process's start
    async with (
        petition_serve(env) as first,
        petition_serve(env) as second,
        petition_worker(env) as worker,
    ):
        bases = [first.base_url, second.base_url]

        async def one(n: int, address: str) -> None:
            async with httpx.AsyncClient(base_url=bases[n % 2], timeout=30) as browser:
                assert (await sign(browser, SLUG, signer(address))).status_code == 303

        await asyncio.gather(*(one(n, a) for n, a in enumerate(addresses)))
        await smtp.wait_for(len(addresses), within=60)
        async with httpx.AsyncClient(base_url=bases[0], timeout=30) as browser:
            for message in smtp.messages[: len(addresses) // 2]:
                assert (await press(browser, link(message, "confirm"))).status_code == 303
        confirmed = len(addresses) // 2
        async with sessions() as session, session.begin():  # a counter drifts (a bad restore)
            await session.execute(
                update(CounterShard)
                .where(CounterShard.shard == 0)
                .values(confirmed=CounterShard.confirmed + 7)
            )
        await asyncio.sleep(4 * period)
        counts = []
        for base in bases:
            async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
                counts.append(await settled_count(browser, SLUG, confirmed, within=10))
        async with sessions() as session:
            runs = await schedule.last_runs(session)
        logs = [first.log_text(), second.log_text(), _text(worker.log)]
        elapsed = loop.time() - began

    assert counts == [confirmed, confirmed]
    received = Counter(str(m["To"]) for m in smtp.messages)
    assert sorted(received) == sorted(addresses) and set(received.values()) == {1}
    for name, line in JOBS.items():
        ran = sum(log.count(line) for log in logs)
        # One run per period at most, whichever process claimed it: not three per period.
        assert 2 <= ran <= elapsed / period + 1, (name, ran, elapsed)
        # Every claim ran and said so (the log line may come before its claim commits).
        assert runs[name][1] <= ran <= runs[name][1] + 1, (name, runs, ran)
    repaired = sum(log.count("signatures are confirmed: repaired") for log in logs)
    assert repaired == 1, logs
    assert all("Traceback" not in log for log in logs), logs
