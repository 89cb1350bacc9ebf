"""An operator restarts the server while people watch a count: their streams end cleanly, at
once (their browsers reconnect), and the server stops without waiting out its grace period."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from petition.models import Campaign
from petition.settings import Settings
from tests.support.process import petition_serve
from tests.support.sse import Watcher

EVENTS = "/api/v1/campaigns/mission-sante/events"
WATCHERS = 3


@pytest.mark.usefixtures("campaign")
async def test_sigterm_ends_live_streams_cleanly_and_the_server_stops_at_once(
    settings: Settings, campaign: Campaign
) -> None:
    env = {
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_VAR_DIR": str(settings.var_dir / "served"),
        "PETITION_BASE_URL": settings.base_url,
        "PETITION_RUN_MAIL_SENDER": "false",
    }
    async with petition_serve(env) as served:
        watchers = [await Watcher.open(served.base_url + EVENTS) for _ in range(WATCHERS)]
        try:
            for watcher in watchers:
                assert (await watcher.next_event(within=5)).data["count"] == 0
            loop = asyncio.get_running_loop()
            asked = loop.time()
            os.kill(served.pid, signal.SIGTERM)
            for watcher in watchers:
                # The last chunk of a chunked response: the stream's end, not a broken one.
                with pytest.raises(ConnectionError, match="the stream ended"):
                    await watcher.next_event(within=3)
            await asyncio.wait_for(served.process.wait(), timeout=10)
            stopped_after = loop.time() - asked
        finally:
            for watcher in watchers:
                await watcher.close()
        log = served.log_text()
    # uvicorn ends by raising the signal it handled again, as a process told to stop should.
    assert served.process.returncode in (0, -signal.SIGTERM), log
    # `petition serve` gives responses 5 s to finish before cutting them: none was needed.
    assert stopped_after < 3, f"stopped {stopped_after:.1f} s after SIGTERM"
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
