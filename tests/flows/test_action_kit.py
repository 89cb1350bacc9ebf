"""After confirming, a signer takes the campaign's action kit filled in with their name — as
text, as PDF or into their own mail client — and nothing of it is kept."""

from __future__ import annotations

import html
import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pypdf
from sqlalchemy import update

from petition.db import SessionFactory
from petition.models import Campaign
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.privacy import until_no_row_mentions
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
BODY = (
    "Madame, Monsieur,\n\nJe soussigné(e) {first_name} {last_name} m’oppose, au titre de "
    "l’article 21 du RGPD, au transfert de mes données de santé.\n\nFait le {date}."
)


async def test_a_signer_takes_the_kit_filled_in_and_nothing_is_kept(
    campaign: Campaign, server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(
                kit_title="Opposition au transfert de vos données",
                kit_email="dpo@caisse.example",
                kit_subject="Opposition (art. 21 RGPD) — {last_name}",
                kit_body=BODY,
            )
        )
    async with server.client() as browser:
        assert (await sign(browser, SLUG, signer())).status_code == 303
        [mail] = await smtp.wait_for(1)
        confirmed = await press(browser, link(mail, "confirm"))
        page = await browser.get(confirmed.headers["location"])
        assert "Opposition au transfert de vos données" in page.text
        form = {"_csrf_token": csrf_of(page), "first_name": "Zébulon", "last_name": "Kitname"}

        text = await browser.post(f"/c/{SLUG}/kit", data={**form, "format": "text"})
        assert text.status_code == 200
        assert text.headers["content-disposition"].startswith("attachment;")
        assert text.headers["cache-control"] == "no-store"
        assert "Opposition (art. 21 RGPD) — Kitname" in text.text
        assert "Je soussigné(e) Zébulon Kitname m’oppose" in text.text
        assert "{date}" not in text.text

        pdf = await browser.post(f"/c/{SLUG}/kit", data={**form, "format": "pdf"})
        assert pdf.headers["content-type"] == "application/pdf"
        pages = pypdf.PdfReader(io.BytesIO(pdf.content)).pages
        assert "Zébulon Kitname" in " ".join(" ".join(p.extract_text() for p in pages).split())

        ready = await browser.post(f"/c/{SLUG}/kit", data={**form, "format": "mail"})
        assert ready.status_code == 200 and "Zébulon Kitname m’oppose" in ready.text
        [href] = re.findall(r'href="(mailto:[^"]+)"', ready.text)
        target = urlsplit(html.unescape(href))
        assert target.scheme == "mailto" and target.path == "dpo@caisse.example"
        query = parse_qs(target.query)
        assert query["subject"] == ["Opposition (art. 21 RGPD) — Kitname"]
        assert "Zébulon Kitname" in query["body"][0]

        unnamed = await browser.post(f"/c/{SLUG}/kit", data={**form, "first_name": ""})
        assert unnamed.status_code == 303 and unnamed.headers["location"].endswith("#kit")
        no_csrf = await browser.post(f"/c/{SLUG}/kit", data={"first_name": "A", "last_name": "B"})
        assert no_csrf.status_code == 403

    await until_no_row_mentions(sessions, "Kitname")


async def test_a_campaign_without_a_kit_offers_none(
    campaign: Campaign, server: LiveServer, smtp: SmtpSink
) -> None:
    del campaign
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        confirmed = await press(browser, link(mail, "confirm"))
        page = await browser.get(confirmed.headers["location"])
        assert 'id="kit"' not in page.text
        token = csrf_of(await browser.get(f"/c/{SLUG}"))
        form = {"_csrf_token": token, "first_name": "A", "last_name": "B"}
        assert (await browser.post(f"/c/{SLUG}/kit", data=form)).status_code == 404


async def test_a_kit_titled_in_any_script_downloads_under_its_own_name(
    campaign: Campaign, server: LiveServer, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    """A header carries only latin-1: the name goes as ASCII and, exactly, as RFC 6266 says."""
    title = "Lettre aux élus — 健康データ"
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(kit_title=title, kit_subject="Objet", kit_body=BODY)
        )
    async with server.client() as browser:
        await sign(browser, SLUG, signer())
        [mail] = await smtp.wait_for(1)
        page = await browser.get((await press(browser, link(mail, "confirm"))).headers["location"])
        form = {"_csrf_token": csrf_of(page), "first_name": "Zébulon", "last_name": "Kitname"}
        text = await browser.post(f"/c/{SLUG}/kit", data={**form, "format": "text"})
        pdf = await browser.post(f"/c/{SLUG}/kit", data={**form, "format": "pdf"})
    assert (text.status_code, pdf.status_code) == (200, 200)
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    for answer, extension in ((text, "txt"), (pdf, "pdf")):
        disposition = answer.headers["content-disposition"]
        plain = re.search(r'filename="([^"]+)"', disposition)
        exact = re.search(r"filename\*=UTF-8''(\S+)", disposition)
        assert plain and plain.group(1).isascii() and plain.group(1).endswith(f".{extension}")
        assert exact and unquote(exact.group(1)).startswith("lettre-aux-élus---健康データ-")
