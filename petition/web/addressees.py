"""Editors import a letter's addressees and download each one's letter pack (PDF)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from petition import addressees, audit, letters
from petition.i18n import _
from petition.models import Addressee, Organiser
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import ServicesDep
from petition.web.pages import PRIVATE, render, render_body

AnyRequest = Request[Any, Any, Any]
IMPORT_MAX_BYTES = 2 * 1024 * 1024  # a few thousand addressees


@get("/dashboard/c/{slug:str}/addressees", dependencies=SIGNED_IN)
async def addressees_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        listed = await addressees.listed(session, campaign.id)
    context = {"campaign": campaign, "addressees": listed, "problems": []}
    return render(request, services, "organiser/addressees.html", context, headers=PRIVATE)


@post(
    "/dashboard/c/{slug:str}/addressees",
    dependencies=SIGNED_IN,
    request_max_body_size=IMPORT_MAX_BYTES,
)
async def import_addressees(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """All rows or none: a file with any bad row imports nothing and names every bad line."""
    form = await request.form()
    upload = form.get("file")
    raw = await upload.read() if isinstance(upload, UploadFile) else b""
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        listed = await addressees.listed(session, campaign.id)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        parsed = (
            addressees.parse(text, [a.email for a in listed])
            if text
            else [addressees.LineError(1, None, _("Choose a CSV file saved as UTF-8."))]
        )
        if parsed and isinstance(parsed[0], addressees.Row):
            rows = [row for row in parsed if isinstance(row, addressees.Row)]
            await addressees.add_all(session, campaign.id, rows, services.clock())
            details = {"rows": len(rows)}
            now = services.clock()
            await audit.record(
                session, campaign, organiser, "import addressees", details, len(rows), now
            )
            return Redirect(f"/dashboard/c/{slug}/addressees", status_code=303)
    problems = [p for p in parsed if isinstance(p, addressees.LineError)] or [
        addressees.LineError(1, None, _("The file has no addressee."))
    ]
    context = {"campaign": campaign, "addressees": listed, "problems": problems}
    return render(
        request, services, "organiser/addressees.html", context, status_code=422, headers=PRIVATE
    )


@get("/dashboard/c/{slug:str}/addressees/{ident:int}/pack.pdf", dependencies=SIGNED_IN)
async def pack(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: FromPath[int],
) -> Response[bytes]:
    """The letter as this addressee receives it: their salutation, the total, and their own
    institution's published signatories first."""
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        addressee = await session.get(Addressee, ident)
        if addressee is None or addressee.campaign_id != campaign.id:
            raise NotFoundException
    state = await services.hub.by_slug(slug)
    groups = await services.letters.get(campaign.id)
    everyone = [s for group in groups for s in group.signatories]
    own = [s for s in everyone if addressees.from_institution(addressee, s)]
    own_ids = {s.id for s in own}
    context = {
        "campaign": campaign,
        "addressee": addressee,
        "count": state.count if state else 0,
        "own": own,
        "others": [s for s in everyone if s.id not in own_ids],
        "today": services.clock(),
    }
    _locale, html = render_body(request, services, "letter_pack.html", context)
    document = await asyncio.to_thread(letters.pdf, html)
    return Response(
        document,
        media_type="application/pdf",
        headers={
            **PRIVATE,
            "Content-Disposition": f'attachment; filename="{slug}-{addressee.id}.pdf"',
        },
    )
