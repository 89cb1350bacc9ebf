"""Background jobs: the mail sender and the scheduled chores, in a web process or a worker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from petition import db, reconcile, retention
from petition.outbox import Sender
from petition.web.deps import Services

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0  # seconds the mail sender may take to write down its batch at shutdown


@contextlib.asynccontextmanager
async def running(services: Services, *, send_mail: bool) -> AsyncIterator[None]:
    """The sender (if asked) and the chores the settings schedule, while inside."""
    settings = services.settings
    sender = asyncio.create_task(services.sender.run()) if send_mail else None
    chores = [
        asyncio.create_task(_every(minutes * 60, job))
        for minutes, job in (
            (settings.counts_check_minutes, functools.partial(check_counts, services)),
            (settings.purge_minutes, functools.partial(purge, services)),
        )
        if minutes > 0
    ]
    try:
        yield
    finally:
        for chore in chores:
            chore.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chore
        if sender is not None:
            await _stop(services.sender, sender)


async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run a chore on a schedule; a failure is logged and the next run comes as planned."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("scheduled %s failed", getattr(job, "func", job).__name__)


async def purge(services: Services) -> None:
    """Delete what the retention periods say must go (see petition.retention)."""
    policy = retention.Policy.from_settings(services.settings)
    async with services.transaction() as session:
        await db.off_loop(session)
        report = await retention.purge(session, services.clock(), policy)
    if report.total:
        await services.scrub()
        log.info("retention purge: %s", ", ".join(f"{k} {n}" for k, n in report.items() if n))


async def check_counts(services: Services) -> None:
    """Compare counters with signatures, repair and report any drift."""
    async with services.transaction() as session:
        await db.off_loop(session)
        drifts = await reconcile.check(session, fix=True)
    for drift in drifts:
        log.warning(
            "counter of %s was %d, %d signatures are confirmed: repaired",
            drift.slug,
            drift.counted,
            drift.actual,
        )


async def _stop(sender: Sender, task: asyncio.Task[None]) -> None:
    """Let the batch being handed over finish (a cancelled send would wait for its lease)."""
    sender.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
