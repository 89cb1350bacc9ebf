"""Background jobs: the mail sender and the scheduled chores, in a web process or a worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from petition import db, reconcile, retention, schedule
from petition.outbox import Sender
from petition.web.deps import Services

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0  # seconds the mail sender may take to write down its batch at shutdown


# How often a process looks whether a job is due, as a share of its period: often enough that
# a job runs close to its time whichever process claims it, at most once a minute (one cheap
# UPDATE per job per process).
LOOKS_PER_PERIOD = 4
LONGEST_LOOK = 60.0


@contextlib.asynccontextmanager
async def running(services: Services, *, background: bool) -> AsyncIterator[None]:
    """The sender and the scheduled jobs (if asked), while inside.

    The jobs run once per period across every process of the site (petition.schedule), so any
    number of workers, or of web processes on a single host, may be willing to run them.
    """
    settings = services.settings
    sender = asyncio.create_task(services.sender.run()) if background else None
    jobs = (
        [
            asyncio.create_task(_scheduled(services, name, minutes * 60, job))
            for name, minutes, job in (
                ("counts_check", settings.counts_check_minutes, check_counts),
                ("purge", settings.purge_minutes, purge),
            )
            if minutes > 0
        ]
        if background
        else []
    )
    try:
        yield
    finally:
        for task in jobs:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if sender is not None:
            await _stop(services.sender, sender)


Job = Callable[[Services, AsyncSession], Awaitable[Callable[[], Awaitable[None]] | None]]


async def _scheduled(services: Services, name: str, seconds: float, job: Job) -> None:
    """Look now and then whether `name` is due; run it when this process claims it."""
    look = min(seconds / LOOKS_PER_PERIOD, LONGEST_LOOK)
    while True:
        await asyncio.sleep(look)
        try:
            await run_if_due(services, name, timedelta(seconds=seconds), job)
        except Exception:
            log.exception("scheduled %s failed; it will be tried again", name)


async def run_if_due(services: Services, name: str, period: timedelta, job: Job) -> bool:
    """Run `job` if no process ran it in the last `period`; its claim commits with its work."""
    async with services.transaction() as session:
        await db.off_loop(session)
        if not await schedule.claim(session, name, services.clock(), period):
            return False
        after = await job(services, session)
    if after is not None:
        await after()
    return True


async def purge(services: Services, session: AsyncSession) -> Callable[[], Awaitable[None]] | None:
    """Delete what the retention periods say must go (see petition.retention)."""
    policy = retention.Policy.from_settings(services.settings)
    report = await retention.purge(session, services.clock(), policy)
    done = ", ".join(f"{k} {n}" for k, n in report.items() if n) or "nothing was due"
    log.info("scheduled retention purge ran: %s", done)
    return services.scrub if report.total else None


async def check_counts(
    services: Services, session: AsyncSession
) -> Callable[[], Awaitable[None]] | None:
    """Compare counters with signatures, repair and report any drift."""
    drifts = await reconcile.check(session, fix=True)
    for drift in drifts:
        log.warning(
            "counter of %s was %d, %d signatures are confirmed: repaired",
            drift.slug,
            drift.counted,
            drift.actual,
        )
    log.info("scheduled counts check ran: %d counters repaired", len(drifts))
    return None


async def _stop(sender: Sender, task: asyncio.Task[None]) -> None:
    """Let the batch being handed over finish (a cancelled send would wait for its lease)."""
    sender.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
