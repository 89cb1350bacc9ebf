"""Our mails reach inboxes: SpamAssassin, as a receiving server runs it, finds nothing to hold
against them (local rules only: no network here)."""

from __future__ import annotations

import asyncio
import html
import re
import shutil

import pytest

from tests.support.journey import link, press, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = [
    pytest.mark.usefixtures("campaign"),
    pytest.mark.skipif(SPAMASSASSIN is None, reason="no SpamAssassin (apt install spamassassin)"),
]
# Far below the 5.0 at which SpamAssassin calls a mail spam: ours must not even come close.
MOST = 1.0
_SCORE = re.compile(rb"^X-Spam-Status: \w+, score=(-?[\d.]+)", re.MULTILINE)
_TEXT_LINK = re.compile(r"https?://\S+")
_HTML_LINK = re.compile(r'href="(https?://[^"]+)"')


async def _score(message: bytes) -> tuple[float, str]:
    assert SPAMASSASSIN is not None
    process = await asyncio.create_subprocess_exec(
        SPAMASSASSIN, "--local", "--test-mode",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    report, _ = await asyncio.wait_for(process.communicate(message), timeout=120)
    match = _SCORE.search(report)
    assert match, report[-2000:]
    details = report.partition(b"Content analysis details:")[2].decode(errors="replace")
    return float(match.group(1)), details


async def test_confirmation_and_already_signed_mails_score_as_ham(
    server: LiveServer, smtp: SmtpSink
) -> None:
    async with server.client() as camille:
        assert (await sign(camille, SLUG, signer("camille@example.org"))).status_code == 303
        [confirmation] = await smtp.wait_for(1)
        assert (await press(camille, link(confirmation, "confirm"))).status_code == 303
        assert (await sign(camille, SLUG, signer("camille@example.org"))).status_code == 303
        await smtp.wait_for(2)
    for received in smtp.received[:2]:
        score, details = await _score(received)
        assert score < MOST, details
    # Both parts say the same: what the HTML part links to, the plain-text part spells out.
    for message in smtp.messages[:2]:
        plain, rich = (message.get_body((kind,)) for kind in ("plain", "html"))
        assert plain is not None and rich is not None
        in_text = set(_TEXT_LINK.findall(plain.get_content()))
        in_html = {html.unescape(href) for href in _HTML_LINK.findall(rich.get_content())}
        assert in_html == in_text and any("/withdraw/" in link for link in in_text)
