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


class SecondFactorNeeded(PermissionDeniedException):
    """Signers' names are shown only to organisers who sign in with a second factor."""


async def campaign_with_names(
    session: AsyncSession, organiser: Organiser, slug: str, *, require_2fa: bool
) -> Campaign:
    """A campaign whose signers' names this organiser may see (export, search, moderate).

    Editors and owners only, and, unless the operator turned it off, only with two-factor
    authentication: a stolen password alone must not open the names.
    """
    campaign, _role = await campaign_for(session, organiser, slug, EDITORS)
    if require_2fa and organiser.totp_secret is None:
        raise SecondFactorNeeded
    return campaign


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
