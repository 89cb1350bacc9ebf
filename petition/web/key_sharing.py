"""Sharing a campaign's older data keys with a reader who joined later (or replaced their key):
the page hands the grants and the wanted pairs to the reader's browser (/static/keys.js), which
opens the data keys with the reader's own secret key and seals them to the others' public keys;
the form brings back only those sealed grants (`readers.share`). Thin handlers."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from petition import audit, readers, sealed_exports, sealing
from petition.i18n import _
from petition.models import Campaign, Organiser, Role
from petition.web.access import EDITORS, SIGNED_IN, campaign_for
from petition.web.deps import Services, ServicesDep
from petition.web.pages import render

AnyRequest = Request[Any, Any, Any]
MAX_LINES = 10_000


@get("/dashboard/c/{slug:str}/keys", dependencies=SIGNED_IN)
async def sharing_page(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[str]:
    async with services.reading() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
    return await _page(request, services, campaign, role, error=None)


@post("/dashboard/c/{slug:str}/keys", dependencies=SIGNED_IN)
async def share(
    request: AnyRequest,
    services: ServicesDep,
    organiser: NamedDependency[Organiser],
    slug: FromPath[str],
) -> Response[Any]:
    form = await request.form()
    given = parse_grants(str(form.get("grants", "")))
    async with services.transaction() as session:
        campaign, role = await campaign_for(session, organiser, slug, EDITORS)
        if given is None:
            return await _page(request, services, campaign, role, error=NOT_GRANTS, status_code=422)
        try:
            count = await readers.share(session, campaign.id, given)
        except readers.BadGrant:
            return await _page(request, services, campaign, role, error=NOT_WANTED, status_code=422)
        await audit.record(session, campaign, organiser, "share keys", {}, count, services.clock())
    return Redirect(f"/dashboard/c/{slug}/keys?shared={count}", status_code=303)


NOT_GRANTS = _("These are not grants made by this page: nothing was shared.")
NOT_WANTED = _(
    "These grants are not all wanted any more (another reader shared them, or the team"
    " changed): nothing was shared. Try again."
)


def parse_grants(text: str) -> list[tuple[int, int, bytes]] | None:
    """Lines of `DATA_KEY_ID READER_KEY_ID BASE64_GRANT`; None when any line is not one."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > MAX_LINES:
        return None
    given = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        try:
            box = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            return None
        given.append((int(parts[0]), int(parts[1]), box))
    return given


async def _page(
    request: AnyRequest,
    services: Services,
    campaign: Campaign,
    role: Role,
    *,
    error: str | None,
    status_code: int = 200,
) -> Response[str]:
    async with services.reading() as session:
        wanted = await readers.wanted(session, campaign.id)
        grants = await readers.grants(session, campaign.id)
        names = {public: name for name, public in await readers.named(session, campaign.id)}

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    data = {
        "grants": sealed_exports.grant_objects(grants),
        "missing": [
            {
                "key": item.campaign_key_id,
                "reader": item.reader_key_id,
                "reader_public_key": b64(item.reader_public_key),
            }
            for item in wanted
        ],
    }
    lacking = sorted(
        {
            names.get(item.reader_public_key) or sealing.fingerprint(item.reader_public_key)
            for item in wanted
        }
    )
    context = {
        "campaign": campaign,
        "role": role,
        "lacking": lacking,
        "data_keys": len({item.campaign_key_id for item in wanted}),
        # Inside a <script type="application/json"> block: no "</" may end it early.
        "data": json.dumps(data).replace("</", "<\\/"),
        "shared": request.query_params.get("shared"),
        "error": error,
    }
    return render(request, services, "organiser/key_sharing.html", context, status_code=status_code)
