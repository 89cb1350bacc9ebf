"""Approving and fetching sealed exports (petition.four_eyes): thin handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from petition import exports, four_eyes, sealed_exports
from petition.models import Campaign, Organiser
from petition.web.access import (
    OWNERS,
    SIGNED_IN,
    SecondFactorNeeded,
    campaign_for,
    campaign_with_names,
)
from petition.web.deps import Services, ServicesDep
from petition.web.pages import RowId, disposition

AnyRequest = Request[Any, Any, Any]
DECISIONS = {"approve": True, "refuse": False}


@post("/dashboard/c/{slug:str}/exports/{ident:int}/{decision:str}", dependencies=SIGNED_IN)
async def decide(
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
    decision: FromPath[str],
) -> Response[Any]:
    """An owner other than the one who asked approves or refuses a sealed export."""
    if decision not in DECISIONS:
        raise NotFoundException
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, OWNERS)
        if services.settings.exports_require_2fa and organiser.totp_secret is None:
            raise SecondFactorNeeded
        try:
            await four_eyes.decide(
                session,
                campaign,
                organiser,
                role,
                ident,
                approve=DECISIONS[decision],
                now=services.clock(),
            )
        except four_eyes.NotAllowed:
            raise PermissionDeniedException from None
    return Redirect(f"/dashboard/c/{slug}#exports-title", status_code=303)


@post("/dashboard/c/{slug:str}/exports/{ident:int}", dependencies=SIGNED_IN, status_code=200)
async def fetch(
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
    ident: RowId,
) -> Response[Any]:
    """The organiser who asked takes the approved file, once."""
    now = services.clock()
    async with services.transaction() as session:
        campaign = await campaign_with_names(
            session, organiser, slug, require_2fa=services.settings.exports_require_2fa
        )
        try:
            filters, approver = await four_eyes.fetch(session, campaign, organiser, ident, now)
        except four_eyes.NotAllowed:
            raise PermissionDeniedException from None
        await exports.record(session, campaign, organiser, "sealed", filters, now, approver)
    return sealed_file(services, campaign, filters, now)


def sealed_file(
    services: Services, campaign: Campaign, filters: exports.ExportFilter, now: datetime
) -> Stream:
    """The sealed export as a download, read through the read-only connections."""
    name = exports.file_name(campaign, "sealed.json", now)
    return Stream(
        sealed_exports.stream(services.readers, campaign, filters, services.settings.timezone),
        media_type="application/json",
        headers={"Content-Disposition": disposition(name)},
    )
