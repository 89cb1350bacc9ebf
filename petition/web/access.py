"""Who may reach a campaign in the dashboard: signed-in organisers, by their role on it."""

from __future__ import annotations

from litestar.di import Provide
from litestar.exceptions import NotFoundException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from petition import campaigns, organisers
from petition.models import Campaign, Organiser, Role
from petition.web.organiser import current_organiser

SIGNED_IN = {"organiser": Provide(current_organiser)}
ANY_ROLE = frozenset(Role)
EDITORS = frozenset({Role.OWNER, Role.EDITOR})  # they see names, edit and moderate
OWNERS = frozenset({Role.OWNER})


async def campaign_for(
    session: AsyncSession, organiser: Organiser, slug: str, roles: frozenset[Role] = ANY_ROLE
) -> tuple[Campaign, Role]:
    """The campaign and the organiser's role on it.

    404 when it is not theirs at all (its existence is none of their business), 403 when their
    role does not allow what they ask.
    """
    campaign = await campaigns.get_by_slug(session, slug)
    role = await organisers.role_on(session, organiser, campaign) if campaign else None
    if campaign is None or role is None:
        raise NotFoundException
    if role not in roles:
        raise PermissionDeniedException
    return campaign, role
