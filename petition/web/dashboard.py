"""The organisers' dashboard: their campaigns, a campaign's figures, exports, the audit log."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath
from litestar.response import Redirect, Stream
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import (
    audit,
    counts,
    exports,
    four_eyes,
    i18n,
    moderation,
    organisers,
    readers,
    sealing,
    stats,
)
from petition.forms import clean_text, search_text
from petition.i18n import _
from petition.models import Campaign, Organiser, Role, Signature, SignatureStatus
from petition.web.access import EDITORS, OWNERS, SIGNED_IN, campaign_for, campaign_with_names
from petition.web.deps import ServicesDep
from petition.web.four_eyes import sealed_file
from petition.web.pages import MAX_ROW_ID, disposition, locale_of, render

AnyRequest = Request[Any, Any, Any]


@get("/dashboard", dependencies=SIGNED_IN)
async def home(
    request: AnyRequest, services: ServicesDep, organiser: NamedDependency[Organiser]
) -> Response[str]:
    async with services.transaction() as session:
        mine = await organisers.campaigns_of(session, organiser)
        totals = await counts.confirmed_by_campaign(session)
    context = {"organiser": organiser, "campaigns": mine, "totals": totals}
    return render(request, services, "organiser/dashboard.html", context)


@get("/dashboard/c/{slug:str}", dependencies=SIGNED_IN)
async def campaign_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug)
        by_status = await _counts_by_status(session, campaign)
        members = await organisers.team(session, campaign) if role is Role.OWNER else []
        watch = await _watch(session, campaign, services.settings.timezone, services.clock())
        reading = await readers.named(session, campaign.id)
        wanted = await readers.wanted(session, campaign.id) if role in EDITORS else []
        asked = await four_eyes.listed(session, campaign, services.clock())
        alone = not await four_eyes.required(session, campaign)
        approvers = await four_eyes.other_owners(session, campaign, organiser)
    context = {
        "asked": asked,
        "alone": alone,
        "approvers": approvers,
        "members": len(members),
        "just_asked": request.query_params.get("asked") == "1",
        "readers": [(name, sealing.fingerprint(public)) for name, public in reading],
        "lacking": len({item.reader_key_id for item in wanted}),
        **watch,
        "organiser": organiser,
        "campaign": campaign,
        "role": role,
        "is_open": campaign.is_open(services.clock()),
        "by_status": by_status,
        "can_export": role in EDITORS,
        "needs_2fa": services.settings.exports_require_2fa and organiser.totp_secret is None,
    }
    return render(request, services, "organiser/campaign.html", context)


@get("/dashboard/c/{slug:str}/audit", dependencies=SIGNED_IN)
async def audit_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    """The latest entries, for owners: 404 to strangers, 403 to members who are not owners."""
    async with services.reading() as session:
        campaign, role = await campaign_for(session, organiser, slug, OWNERS)
        entries = await audit.latest(session, campaign)
    context = {"campaign": campaign, "role": role, "organiser": organiser, "audit": entries}
    return render(request, services, "organiser/audit.html", context)


@post("/dashboard/c/{slug:str}/export", dependencies=SIGNED_IN, status_code=200)
async def export(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """A POST, not a GET: an export is an act, recorded in the audit log before it streams."""
    form = await request.form()
    fmt = str(form.get("format", "csv"))
    filters = _filters(form, services.settings.timezone)
    now = services.clock()
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        if fmt not in (*exports.FORMATS, "sealed") or filters is None:
            raise ValidationException
        if fmt == "sealed" and not campaign.sealed:
            raise ValidationException
        if fmt == "sealed" and await four_eyes.required(session, campaign):
            await four_eyes.ask(session, campaign, organiser, filters, now)
            return Redirect(f"/dashboard/c/{slug}?asked=1#exports-title", status_code=303)
        await exports.record(session, campaign, organiser, fmt, filters, now)
    if fmt == "sealed":
        return sealed_file(services, campaign, filters, now)
    locale = locale_of(request)
    # Translated now: the file streams after this handler returns, outside the page's catalog.
    with i18n.using(services.catalogs, locale):
        layout = exports.for_people(
            i18n.gettext,
            HEADER_LABELS,
            services.settings.timezone,
            delimiter=";" if locale == "fr" else ",",
        )
    source = exports.rows(services.readers, campaign, filters)
    body = exports.stream(fmt, campaign, source, layout)
    return Stream(
        body,
        media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": disposition(exports.file_name(campaign, fmt, now))},
    )


HEADER_LABELS = (
    _("First name"),
    _("Last name"),
    _("Role"),
    _("Organisation"),
    _("Published"),
    _("Confirmed on"),
)


async def _watch(
    session: AsyncSession, campaign: Campaign, tz: str, now: datetime
) -> dict[str, object]:
    """What every organiser of the campaign watches, viewers included: no names here."""
    days = await stats.per_day(session, campaign, tz=tz, days=30, now=now)
    hours = await stats.per_hour(session, campaign, tz=tz, hours=48, now=now)
    return {
        "per_day": [(f"{day:%d/%m}", n) for day, n in days],
        "per_hour": [(f"{hour:%d/%m %Hh}", n) for hour, n in hours],
        "top_roles": await stats.top_values(session, campaign, "role"),
        "top_organisations": await stats.top_values(session, campaign, "organisation"),
        "conversion": await stats.conversion(session, campaign),
    }


async def _counts_by_status(session: AsyncSession, campaign: Campaign) -> dict[str, int]:
    # Counting rows is fine here: a few organisers look, not the public.
    result = await session.execute(
        select(Signature.status, func.count())
        .where(Signature.campaign_id == campaign.id)
        .group_by(Signature.status)
    )
    found = {status.value: int(n) for status, n in result.all()}
    return {status.value: found.get(status.value, 0) for status in SignatureStatus}


def _filters(form: Any, tz: str) -> exports.ExportFilter | None:
    """Status (confirmed by default) and an optional date range, read in the campaign's zone."""
    try:
        status = SignatureStatus(str(form.get("status") or SignatureStatus.CONFIRMED.value))
        since = _day(form.get("since"), tz)
        until = _day(form.get("until"), tz, next_day=True)
    except ValueError:
        return None
    if status is SignatureStatus.WITHDRAWN:
        return None  # withdrawn signatures have nothing left to export
    return exports.ExportFilter(status=status, since=since, until=until)


def _day(value: object, tz: str, *, next_day: bool = False) -> datetime | None:
    if not value:
        return None
    day = date.fromisoformat(str(value)) + timedelta(days=1 if next_day else 0)
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz))


@get("/dashboard/c/{slug:str}/signatures", dependencies=SIGNED_IN)
async def signatures(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    query = request.query_params
    status = _status_or_none(query.get("status"))
    text = search_text(query.get("q"), 100)
    dates = _rule(query, services.settings.timezone) or moderation.Rule()
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        page = await moderation.search(
            session, campaign, text=text, status=status, since=dates.since, until=dates.until,
            page=_int(query.get("page"), 1),
        )  # fmt: skip
        role = await organisers.role_on(session, organiser, campaign)
    context = {
        "role": role,
        "since": query.get("since", ""),
        "until": query.get("until", ""),
        "campaign": campaign,
        "page": page,
        "q": text,
        "status": status.value if status else "",
    }
    return render(request, services, "organiser/signatures.html", context)


@post("/dashboard/c/{slug:str}/signatures/{action:str}", dependencies=SIGNED_IN)
async def act_on_signatures(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    """Invalidate (with a reason) or restore the ticked signatures."""
    form = await request.form()
    ids = ticked(form)
    reason, problem = clean_text(str(form.get("reason", "")), 200, required=action == "invalidate")
    async with services.transaction() as session:
        # Access first: a stranger learns nothing, not even that their form was wrong.
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        if action not in {"invalidate", "restore"} or not ids or problem:
            raise ValidationException
        rule = moderation.Rule(ids=ids)
        if action == "invalidate":
            await moderation.invalidate(
                session, campaign, rule, reason, organiser, services.clock()
            )
        else:
            await moderation.restore(session, campaign, rule, organiser, services.clock())
    return Redirect(f"/dashboard/c/{slug}/signatures", status_code=303)


@get("/dashboard/c/{slug:str}/moderate", dependencies=SIGNED_IN)
async def rule_preview(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    """Shows how many signatures a rule matches; changes nothing."""
    rule = _rule(request.query_params, services.settings.timezone)
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        matched = (
            await moderation.preview(session, campaign, rule)
            if rule and not rule.is_empty()
            else None
        )
        role = await organisers.role_on(session, organiser, campaign)
    context = {
        "role": role,
        "campaign": campaign,
        "rule": rule,
        "matched": matched,
        "fields": dict(request.query_params),
    }
    return render(request, services, "organiser/moderate.html", context)


@post("/dashboard/c/{slug:str}/moderate", dependencies=SIGNED_IN)
async def apply_rule(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    form = await request.form()
    rule = _rule(form, services.settings.timezone)
    reason, problem = clean_text(str(form.get("reason", "")), 200, required=True)
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        if rule is None or rule.is_empty() or problem:
            raise ValidationException
        await moderation.invalidate(session, campaign, rule, reason, organiser, services.clock())
    return Redirect(f"/dashboard/c/{slug}", status_code=303)


MAX_TICKED = 500


def ticked(form: Any) -> tuple[int, ...]:
    """The ids of the ticked rows of a list (at most MAX_TICKED; unreadable ones as 0)."""
    return tuple(_int(value, 0) for value in form.getall("id", [])[:MAX_TICKED])


def _rule(values: Any, tz: str) -> moderation.Rule | None:
    try:
        return moderation.Rule(
            name=search_text(values.get("name"), 100),
            organisation=search_text(values.get("organisation"), 200),
            email_domain=search_text(values.get("email_domain"), 253),
            since=_day(values.get("since"), tz),
            until=_day(values.get("until"), tz, next_day=True),
        )
    except ValueError:
        return None


def _status_or_none(value: object) -> SignatureStatus | None:
    try:
        return SignatureStatus(str(value)) if value else None
    except ValueError:
        return None


def _int(value: object, default: int) -> int:
    """A page number or row id typed into a URL or a form; unreadable or absurd: `default`."""
    try:
        number = int(str(value))
    except ValueError:
        return default
    return number if 0 < number <= MAX_ROW_ID else default
