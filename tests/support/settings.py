"""The settings every test server starts from: a real SMTP sink, quick retries, no limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from petition.settings import Settings


def for_tests(var_dir: Path, database_url: str, smtp_port: int, **changes: Any) -> Settings:
    settings = Settings(
        var_dir=var_dir,
        database_url=database_url,
        secret_key="test-secret-" + "k" * 40,
        base_url="http://petition.test",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_tls="none",
        smtp_timeout=5,
        mail_from="petition@petition.test",
        outbox_poll_interval=0.2,
        mail_retry_base=0.1,
        mail_retry_max=0.5,
        # Tests sign many times in a row from one address, without JavaScript and at once:
        # the anti-abuse tests set these back to what a real site uses.
        form_min_seconds=0,
        burst_limit=100_000,
        sustained_limit=100_000,
        nojs_burst_limit=100_000,
        nojs_sustained_limit=100_000,
        # Scheduled jobs that write at any moment: the tests that need one run it themselves
        # (jobs.run_if_due) or turn it on.
        milestones_check_seconds=0,
        update_batch_minutes=0,
        official_feed_minutes=0,
    )
    return dataclasses.replace(settings, **changes)
