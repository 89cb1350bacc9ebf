"""Editors import a letter's addressees and download each one's letter pack (PDF)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.response import Redirect

from petition import addressees, audit, letters, outbox
from petition.forms import clean_email
from petition.i18n import _
from petition.mail import Attachment, RenderedMail
from petition.models import Addressee, Campaign, Organiser
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, disposition, locale_of, render, render_body

AnyRequest = Request[Any, Any, Any]
IMPORT_MAX_BYTES = 2 * 1024 * 1024  # a few thousand addressees
MAX_TICKED = 1000


@get("/dashboard/c/{slug:str}/addressees", dependencies=SIGNED_IN)
async def addressees_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        listed = await addressees.listed(session, campaign.id)
        statuses = await addressees.statuses(session, campaign.id)
    context = {
        "campaign": campaign,
        "role": role,
        "addressees": listed,
        "statuses": statuses,
        "per_hour": services.settings.letter_mails_per_hour,
        "problems": [],
    }
    return render(request, services, "organiser/addressees.html", context)


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
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
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
    context = {
        "campaign": campaign,
        "role": role,
        "addressees": listed,
        "statuses": {},
        "per_hour": services.settings.letter_mails_per_hour,
        "problems": problems,
    }
    return render(request, services, "organiser/addressees.html", context, status_code=422)


@get("/dashboard/c/{slug:str}/addressees/{ident:int}/pack.pdf", dependencies=SIGNED_IN)
async def pack(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[bytes]:
    """The letter as this addressee receives it: their salutation, the total, and their own
    institution's published signatories first."""
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        addressee = await session.get(Addressee, ident)
        if addressee is None or addressee.campaign_id != campaign.id:
            raise NotFoundException
    context = await _pack_context(services, campaign, addressee)
    document = await _pack_pdf(request, services, context)
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Content-Disposition": disposition(f"{slug}-{addressee.id}.pdf"),
        },
    )


async def _pack_pdf(request: AnyRequest, services: Services, context: dict[str, Any]) -> bytes:
    _locale, html = render_body(request, services, "letter_pack.html", context)
    return await asyncio.to_thread(letters.pdf, html)


async def _pack_context(
    services: Services, campaign: Campaign, addressee: Addressee
) -> dict[str, Any]:
    state = await services.hub.by_slug(campaign.slug)
    groups = await services.letters.get(campaign.id)
    everyone = [s for group in groups for s in group.signatories]
    own = [s for s in everyone if addressees.from_institution(addressee, s)]
    own_ids = {s.id for s in own}
    return {
        "campaign": campaign,
        "addressee": addressee,
        "count": state.count if state else 0,
        "own": own,
        "others": [s for s in everyone if s.id not in own_ids],
        "today": services.clock(),
        "letter_url": f"{services.settings.public_url}/c/{campaign.slug}/letter",
    }


@post("/dashboard/c/{slug:str}/addressees/send", dependencies=SIGNED_IN)
async def send_letters(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """Send the letter — to oneself as a test, to every new addressee, to those that failed,
    or to the ticked ones — each with their own pack, paced by the hourly cap."""
    form = await request.form()
    action = str(form.get("action", ""))
    ticked = [int(v) for v in form.getall("id", []) if str(v).isdigit()][:MAX_TICKED]
    test_to, bad_test = clean_email(str(form.get("test_to", "")))
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        if action == "test":
            if bad_test:
                raise ValidationException
            first = (await addressees.listed(session, campaign.id))[:1]
            targets = first
        elif action in ("all", "failed", "chosen"):
            ids = ticked if action == "chosen" else None
            include_failed = action != "all"
            targets = await addressees.sendable(
                session, campaign.id, ids, include_failed=include_failed
            )
        else:
            raise ValidationException
    locale = locale_of(request)
    packs: dict[int, bytes] = {}
    mails: dict[int, RenderedMail] = {}
    for a in targets:  # one context per addressee, for both their pack and their mail
        context = await _pack_context(services, campaign, a)
        packs[a.id] = await _pack_pdf(request, services, context)
        mails[a.id] = services.render_mail("letter", locale, context)
    async with services.transaction() as session:
        now = services.clock()
        if action == "test":
            for a in targets:
                await outbox.enqueue(
                    session, template="letter-test", to=test_to,
                    mail=_as_test(mails[a.id]), now=now,
                    attachment=Attachment(f"{slug}-test.pdf", packs[a.id]),
                )  # fmt: skip
            await audit.record(session, campaign, organiser, "test letter", {}, len(targets), now)
        else:
            # Again under lock: what another request queued meanwhile is not queued twice.
            still = await addressees.sendable(
                session, campaign.id, [a.id for a in targets],
                include_failed=action != "all", lock=True,
            )  # fmt: skip
            step = timedelta(hours=1) / max(1, services.settings.letter_mails_per_hour)
            slot = await addressees.next_slot(session, campaign.id, now, step)
            for a in still:
                row = await outbox.enqueue(
                    session, template="letter", to=a.email,
                    mail=mails[a.id], now=now, not_before=slot, at_most_once=True,
                    attachment=Attachment(f"{slug}-{a.id}.pdf", packs[a.id]),
                )  # fmt: skip
                a.outbox_id = row.id
                slot += step
            details = {"action": action}
            await audit.record(
                session, campaign, organiser, "send letter", details, len(still), now
            )
    services.sender.wake()
    return Redirect(f"/dashboard/c/{slug}/addressees", status_code=303)


def _as_test(mail: RenderedMail) -> RenderedMail:
    return RenderedMail(f"[TEST] {mail.subject}", mail.text, mail.html)
