"""After a whole journey the clear address is nowhere: not in a table, a file, or a log line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from petition.db import SessionFactory
from petition.settings import Settings
from tests.support.journey import link, press, sign, signer
from tests.support.privacy import until_no_row_mentions
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
pytestmark = pytest.mark.usefixtures("campaign")
EMAIL = "hippocrate.de.cos@hopital-exemple.fr"
# The test's own browser and mail server log what they see; they stand for the outside world.
_TEST_SIDE_LOGGERS = ("mail.log", "httpx", "httpcore")


async def test_clear_address_is_erased_once_mail_has_left(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The operator's level (INFO) everywhere, and everything petition itself says.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="petition")
    async with server.client() as browser:
        await sign(browser, SLUG, signer(EMAIL, first_name="Hippocrate", last_name="De Cos"))
        [mail] = await smtp.wait_for(1)
        confirm_path = link(mail, "confirm")
        await press(browser, confirm_path)
        await sign(browser, SLUG, signer(EMAIL))  # an "already signed" mail, erased in turn
        await smtp.wait_for(2)

    await until_no_row_mentions(sessions, EMAIL)
    if settings.resolved_database_url.startswith("sqlite"):
        await _until_no_file_mentions(
            Path(settings.resolved_database_url.removeprefix("sqlite:///")), EMAIL
        )
    token = confirm_path.rsplit("/", 1)[1]
    server_side = "\n".join(
        caplog.handler.format(record)
        for record in caplog.records
        if not record.name.startswith(_TEST_SIDE_LOGGERS)
    )
    assert "petition.outbox" in server_side or "uvicorn" in server_side  # something was logged
    for secret in (EMAIL, token, "Hippocrate"):
        assert secret not in server_side


async def _until_no_file_mentions(database: Path, needle: str) -> None:
    """The bytes on disk too: free pages and the write-ahead log keep what SQL no longer shows."""
    files = [database, database.with_name(database.name + "-wal")]
    for _ in range(50):
        if not any(f.exists() and needle.encode() in f.read_bytes() for f in files):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{needle} still in the database files")
