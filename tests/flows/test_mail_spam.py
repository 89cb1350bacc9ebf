"""Our mails reach inboxes: SpamAssassin, as a receiving server runs it, finds nothing to hold
against them (local rules only: no network here)."""

from __future__ import annotations

import html
import re

import pytest

from tests.support.journey import link, press, sign, signer
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink
from tests.support.spam import MOST, SPAMASSASSIN
from tests.support.spam import score as score_of

SLUG = "mission-sante"
pytestmark = [
    pytest.mark.usefixtures("campaign"),
    pytest.mark.skipif(SPAMASSASSIN is None, reason="no SpamAssassin (apt install spamassassin)"),
]
_TEXT_LINK = re.compile(r"https?://\S+")
_HTML_LINK = re.compile(r'href="(https?://[^"]+)"')


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
        score, details = await score_of(received)
        assert score < MOST, details
    # Both parts say the same: what the HTML part links to, the plain-text part spells out.
    for message in smtp.messages[:2]:
        plain, rich = (message.get_body((kind,)) for kind in ("plain", "html"))
        assert plain is not None and rich is not None
        in_text = set(_TEXT_LINK.findall(plain.get_content()))
        in_html = {html.unescape(href) for href in _HTML_LINK.findall(rich.get_content())}
        assert in_html == in_text and any("/withdraw/" in link for link in in_text)
