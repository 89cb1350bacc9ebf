"""Editors record signatures gathered on paper: counted batches, named rows from a CSV file."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from petition import campaigns, paper, privacy
from petition.i18n import _
from petition.models import Campaign, Organiser, Role
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, render

AnyRequest = Request[Any, Any, Any]
IMPORT_MAX_BYTES = 2 * 1024 * 1024  # a few thousand rows
FIELDS = ("reference", "gathered_on", "sheets", "total")


@get("/dashboard/c/{slug:str}/paper", dependencies=SIGNED_IN)
async def paper_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        context = await _context(session, services, campaign, role)
    return render(request, services, "organiser/paper.html", context)


@post("/dashboard/c/{slug:str}/paper", dependencies=SIGNED_IN)
async def record_counted(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """A batch counted on sheets: its total joins the count at once."""
    values = await _values(request)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        parsed = _parse(services, values, with_total=True)
        if isinstance(parsed, tuple):
            spec, total = parsed
            await paper.add_counted(session, campaign, spec, total, organiser, services.clock())
            return Redirect(f"/dashboard/c/{slug}/paper", status_code=303)
        context = await _context(session, services, campaign, role, failed="counted", errors=parsed)
    context["values"] = values
    return render(request, services, "organiser/paper.html", context, status_code=422)


@post(
    "/dashboard/c/{slug:str}/paper/named",
    dependencies=SIGNED_IN,
    request_max_body_size=IMPORT_MAX_BYTES,
)
async def import_named(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """All rows or none: a file with any bad row imports nothing and names every bad line."""
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in FIELDS if key != "total"}
    upload = form.get("file")
    raw = await upload.read() if isinstance(upload, UploadFile) else b""
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        parsed = _parse(services, values, with_total=False)
        rows = _rows(raw, campaign)
        if isinstance(parsed, tuple) and rows and isinstance(rows[0], paper.Row):
            now = services.clock()
            notice = await privacy.current(session, campaign, services.settings, now)
            named = [row for row in rows if isinstance(row, paper.Row)]
            label = privacy.label(notice)
            await paper.add_named(session, campaign, parsed[0], named, organiser, label, now)
            return Redirect(f"/dashboard/c/{slug}/paper", status_code=303)
        errors = parsed if isinstance(parsed, dict) else {}
        context = await _context(session, services, campaign, role, failed="named", errors=errors)
    context["values"] = values
    context["problems"] = [p for p in rows if isinstance(p, paper.LineError)]
    if not errors and not context["problems"]:
        context["problems"] = [paper.LineError(1, None, _("The file has no signature."))]
    return render(request, services, "organiser/paper.html", context, status_code=422)


@post("/dashboard/c/{slug:str}/paper/{ident:int}", dependencies=SIGNED_IN)
async def correct_batch(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[Any]:
    """A batch's reference, date, sheets or (counted ones) total corrected; audited."""
    values = await _values(request)
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        batch = await paper.batch_of(session, campaign.id, ident, lock=True)
        if batch is None:
            raise NotFoundException
        parsed = _parse(services, values, with_total=not batch.named)
        if isinstance(parsed, tuple):
            spec, total = parsed
            now = services.clock()
            await paper.correct(session, campaign, batch, spec, total, organiser, now)
            return Redirect(f"/dashboard/c/{slug}/paper", status_code=303)
        context = await _context(
            session, services, campaign, role, failed=f"edit-{ident}", errors=parsed
        )
    context["values"] = values
    return render(request, services, "organiser/paper.html", context, status_code=422)


@post("/dashboard/c/{slug:str}/paper/{ident:int}/delete", dependencies=SIGNED_IN)
async def delete_batch(
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Redirect:
    """The batch, its part of the count and its named rows deleted; audited."""
    async with services.transaction() as session:
        campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
        batch = await paper.batch_of(session, campaign.id, ident, lock=True)
        if batch is None:
            raise NotFoundException
        await paper.delete(session, campaign, batch, organiser, services.clock())
    return Redirect(f"/dashboard/c/{slug}/paper", status_code=303)


async def _values(request: AnyRequest) -> dict[str, str]:
    form = await request.form()
    return {key: str(form.get(key, "")) for key in FIELDS}


def _parse(
    services: Services, values: dict[str, str], *, with_total: bool
) -> tuple[paper.BatchSpec, int] | dict[str, str]:
    tz, now = services.settings.timezone, services.clock()
    return paper.parse_batch(values, tz=tz, now=now, with_total=with_total)


def _rows(raw: bytes, campaign: Campaign) -> list[paper.Row] | list[paper.LineError]:
    if campaign.anonymised_at is not None:  # its names were erased, as its notice promised
        message = _("This campaign's names were erased after it closed: none can be added.")
        return [paper.LineError(1, None, message)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text:
        return [paper.LineError(1, None, _("Choose a CSV file saved as UTF-8."))]
    return paper.parse(text, campaign.required_fields)


async def _context(
    session: AsyncSession,
    services: Services,
    campaign: Campaign,
    role: Role,
    *,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    batches = await paper.listed(session, campaign.id)
    tz = services.settings.timezone
    return {
        "campaign": campaign,
        "role": role,
        "batches": batches,
        # Each batch's day as its edit form's date field takes it.
        "days": {b.id: campaigns.local_day(b.gathered_on, tz) for b in batches if b.gathered_on},
        "failed": failed,  # which form the errors belong to
        "errors": errors or {},
        "values": {},
        "problems": [],
    }
