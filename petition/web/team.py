"""Owners manage who organises their campaign, and with which role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit, four_eyes, mailcap, organisers, outbox, privacy, readers
from petition.forms import clean_email, clean_text
from petition.models import Campaign, Organiser, Role
from petition.web.access import OWNERS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, locale_of, render

AnyRequest = Request[Any, Any, Any]


@get("/dashboard/c/{slug:str}/team", dependencies=SIGNED_IN)
async def team_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    """Who organises the campaign, for its owners (404 to strangers, 403 to other members)."""
    async with services.reading() as session:
        campaign, role = await campaign_for(session, organiser, slug, OWNERS)
        members = await organisers.team(session, campaign)
    context = {
        "campaign": campaign,
        "role": role,
        "organiser": organiser,
        "team": members,
        "problem": request.query_params.get("problem"),
    }
    return render(request, services, "organiser/team.html", context)


@post("/dashboard/c/{slug:str}/team/add", dependencies=SIGNED_IN)
async def add_member(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    """Add someone by address: an existing organiser gets the role, a new one an invitation."""
    form = await request.form()
    email, bad_email = clean_email(str(form.get("email", "")))
    name, bad_name = clean_text(str(form.get("name", "")), 100, required=True)
    role = _role(form.get("role"))
    async with services.transaction() as session:
        campaign, _own = await campaign_for(session, organiser, slug, OWNERS)
        if bad_email or bad_name or role is None:
            raise ValidationException
        member = await organisers.find(session, secret=services.secret, email=email)
        if member is None:
            member = await organisers.add(
                session, secret=services.secret, email=email, name=name, now=services.clock()
            )
        if member.password_hash is None:  # new, or invited elsewhere and not yet come
            await _invite(session, services, campaign, member, email, locale_of(request), organiser)
        await organisers.grant(session, member, campaign, role)
        rotated = await readers.follow(session, campaign, services.clock())
        details = {"member": member.name, "role": role.value}
        await audit.record(
            session, campaign, organiser, "add organiser", details, 0, services.clock()
        )
        # With a second organiser, four-eyes approval is on again; the notice states it (and
        # whether the campaign is sealed, which readers.follow may just have changed).
        await four_eyes.member_added(session, campaign, organiser, services.clock())
        await privacy.current(session, campaign, services.settings, services.clock())
    if rotated:
        await services.scrub()  # a campaign sealed now: its clear copies out of the files too
    services.sender.wake()
    return Redirect(f"/dashboard/c/{slug}/team", status_code=303)


@post("/dashboard/c/{slug:str}/team/{member_id:int}", dependencies=SIGNED_IN)
async def change_member(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    member_id: RowId,
) -> Response[Any]:
    """Change a member's role, or remove them (`role=none`); a campaign keeps one owner."""
    form = await request.form()
    wanted = str(form.get("role", ""))
    role = _role(wanted)
    async with services.transaction() as session:
        campaign, _own = await campaign_for(session, organiser, slug, OWNERS)
        if role is None and wanted != "none":
            raise ValidationException
        try:
            await organisers.change_role(session, campaign, member_id, role)
        except organisers.LastOwner:
            return Redirect(f"/dashboard/c/{slug}/team?problem=last-owner", status_code=303)
        rotated = await readers.follow(session, campaign, services.clock())
        details = {"member_id": member_id, "role": wanted}
        await audit.record(
            session, campaign, organiser, "change organiser", details, 0, services.clock()
        )
    if rotated:
        await services.scrub()
    return Redirect(_after_change(slug, organiser, member_id, role), status_code=303)


def _after_change(slug: str, organiser: Organiser, member_id: int, role: Role | None) -> str:
    """Back to the team page, unless the owners' page is no longer theirs to see."""
    if member_id != organiser.id or role is Role.OWNER:
        return f"/dashboard/c/{slug}/team"
    return "/dashboard" if role is None else f"/dashboard/c/{slug}"


async def _invite(
    session: AsyncSession,
    services: Services,
    campaign: Campaign,
    member: Organiser,
    email: str,
    locale: str,
    inviter: Organiser,
) -> None:
    """Mail a new organiser their link to choose a password; the address leaves with the mail.

    A link of an earlier invitation (another campaign's) stays valid: either one will do.
    """
    now = services.clock()
    if not await mailcap.take_for_organiser(session, member.email_hash, now):
        return
    days = services.settings.invitation_days
    token = await organisers.password_link(
        session, member, now=now, valid_for=timedelta(days=days), void_earlier=False
    )
    context: dict[str, object] = {
        "name": member.name,
        "inviter": inviter.name,
        "campaign_title": campaign.title,
        "link": f"{services.settings.public_url}/organiser/password/{token}",
        "days": days,
    }
    await outbox.enqueue(
        session,
        template="invitation",
        to=email,
        mail=services.render_mail("invitation", locale, context),
        now=now,
    )


def _role(value: object) -> Role | None:
    try:
        return Role(str(value))
    except ValueError:
        return None
