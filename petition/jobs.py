"""Background jobs: the mail sender and the scheduled chores, in a web process or a worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from petition import db, milestones, official, reconcile, retention, schedule, updates
from petition.outbox import Sender
from petition.signing import Links
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
                ("updates", settings.update_batch_minutes, send_updates),
                ("official_reminders", REMINDER_LOOK_MINUTES, remind_official),
                ("official_counts", settings.official_feed_minutes, official_counts),
                ("milestones", settings.milestones_check_seconds / 60, check_milestones),
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
        run = asyncio.ensure_future(run_if_due(services, name, timedelta(seconds=seconds), job))
        try:
            await asyncio.shield(run)
        except asyncio.CancelledError:
            # Stopping: the run ends its transaction first. Cut off in a statement, it would
            # leave that statement running in SQLite's thread, holding the write lock.
            with contextlib.suppress(Exception):
                await run
            raise
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


async def check_milestones(
    services: Services, session: AsyncSession
) -> Callable[[], Awaitable[None]] | None:
    """Mark the milestones the counts have passed and tell their organisers (by mail)."""
    settings = services.settings
    reached = await milestones.check(
        session, services.clock(), secret=services.secret, public_url=settings.public_url
    )
    for one in reached:
        log.info(
            "campaign %d reached its milestone of %d (count %d): %d organisers told",
            one.campaign_id, one.threshold, one.count, one.mails,
        )  # fmt: skip
    if not any(one.mails for one in reached):
        return None

    return _waking(services)


async def send_updates(
    services: Services, session: AsyncSession
) -> Callable[[], Awaitable[None]] | None:
    """Queue the next batch of every campaign's news being sent (petition.updates)."""
    settings = services.settings
    queued = await updates.queue_due(
        session,
        size=settings.update_batch_size,
        secret=services.secret,
        links=Links(settings.public_url),
        now=services.clock(),
    )
    if not queued:
        return None
    log.info("campaign news: %d mails queued", queued)

    return _waking(services)


# How often the official petitions' deadlines are looked at, for their reminders.
REMINDER_LOOK_MINUTES = 60.0


async def remind_official(
    services: Services, session: AsyncSession
) -> Callable[[], Awaitable[None]] | None:
    """Start the reminder of each official petition whose deadline is near (once each)."""
    for campaign in await updates.remind_before_deadline(session, services.clock()):
        log.info("official petition reminder started for %s", campaign.slug)
    return None


def _waking(services: Services) -> Callable[[], Awaitable[None]]:
    """What a job that queued mail runs once committed: the sender looks at once."""

    async def wake() -> None:
        services.sender.wake()

    return wake


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


async def official_counts(
    services: Services, session: AsyncSession
) -> Callable[[], Awaitable[None]] | None:
    """Read the official petitions' count feeds. Only the list is read under the claim: the
    feeds are read after it has committed, so a slow site holds no transaction open."""
    due = await official.feeds(session)
    if not due:
        return None

    async def read_them() -> None:
        readings = await official.read_all(due)
        async with services.transaction() as written:
            await official.record(written, readings, services.clock())
        failed = sum(1 for reading in readings if reading.count is None)
        log.info("scheduled official counts ran: %d read, %d failed", len(due) - failed, failed)

    return read_them


async def _stop(sender: Sender, task: asyncio.Task[None]) -> None:
    """Let the batch being handed over finish (a cancelled send would wait for its lease)."""
    sender.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
