"""Signers take the campaign's action kit with them: as text, as PDF, or into their mail."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from petition import campaigns, dates, kit, letters, texts
from petition.forms import clean_text
from petition.web.deps import ServicesDep
from petition.web.pages import disposition, locale_of, render, render_body

AnyRequest = Request[Any, Any, Any]


@post("/c/{slug:str}/kit", summary="The action kit filled in with the signer's name")
async def take_kit(
    request: AnyRequest, services: ServicesDep, slug: FromPath[str]
) -> Response[Any]:
    form = await request.form()
    first, bad_first = clean_text(str(form.get("first_name", "")), 100, required=True)
    last, bad_last = clean_text(str(form.get("last_name", "")), 100, required=True)
    async with services.reading() as session:
        campaign = await campaigns.get_by_slug(session, slug)
        rows = await texts.listed(session, campaign.id) if campaign is not None else []
    if campaign is None or not campaign.kit_title or not campaign.kit_body:
        raise NotFoundException
    # The letter in the version of the text the signer read, where it has one.
    version = texts.choose(
        texts.versions(campaign, rows), str(form.get("version", "")) or None, locale_of(request)
    )
    kit_subject, kit_body = (
        (version.kit_subject, version.kit_body)
        if version.kit_body
        else (campaign.kit_subject, campaign.kit_body)
    )
    if bad_first or bad_last:
        return Redirect(f"/c/{slug}/confirmed#kit", status_code=303)
    # The signer's letter says the day as people write it, in the site's time zone.
    today = dates.local(services.clock(), services.settings.timezone).date()
    day = dates.long_date(today, locale_of(request))
    subject = kit.fill(kit_subject or "", first, last, day)
    body = kit.fill(kit_body, first, last, day)
    chosen = str(form.get("format", "text"))
    if chosen == "mail":
        # A page rather than a redirect: the letter stays readable (and copyable) for whoever
        # has no mail client set up, and the link opens it in the one they have.
        context = {
            "campaign": campaign,
            "subject": subject,
            "body": body,
            "mailto": kit.mailto(campaign.kit_email, subject, body),
        }
        return render(request, services, "kit_ready.html", context)
    if chosen == "pdf":
        context = {"subject": subject, "body": body, "email": campaign.kit_email}
        _locale, html = render_body(request, services, "kit_document.html", context)
        document = await asyncio.to_thread(letters.pdf, html)
        return _download(
            document, "application/pdf", kit.file_name(campaign.kit_title, today, "pdf")
        )
    text = f"{subject}\n\n{body}\n"
    name = kit.file_name(campaign.kit_title, today, "txt")
    return _download(text.encode(), "text/plain", name)  # Litestar adds the charset


def _download(content: bytes, media_type: str, name: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        status_code=200,
        headers={"Content-Disposition": disposition(name)},
    )
