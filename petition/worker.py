"""`petition worker`: the mail sender and the scheduled jobs, in a process of their own.

The web processes then run with PETITION_RUN_MAIL_SENDER=0 and only answer requests; mail
rendering and SMTP conversations no longer share their event loop. Several workers may run:
the outbox's leases keep each mail to one of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from petition import runtime
from petition.app import build_services, running
from petition.models import utcnow
from petition.settings import Settings
from petition.stopping import EXIT_SIGNALS

log = logging.getLogger(__name__)


async def run(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
    """Send mail and run the scheduled jobs until SIGTERM or SIGINT, then stop cleanly."""
    services = build_services(settings, clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in EXIT_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running(services, background=True):
            log.info("worker started: sending mail, running the scheduled jobs")
            with runtime.settled():
                await stop.wait()
            # Leaving `running` lets the sender finish the batch it is handing over.
            log.info("worker stopping")
    finally:
        for sig in EXIT_SIGNALS:
            loop.remove_signal_handler(sig)
    log.info("worker stopped")
