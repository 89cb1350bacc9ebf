"""The public JSON API under /api/v1: counts any proxy may cache, a live stream, signatories.

Counts come from the process's live snapshot (petition.live), never from a query per request;
breakdowns from a cache refreshed at most once per `breakdown_seconds`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from petition import i18n, published, texts
from petition.live import CampaignState, iso
from petition.signing import Links
from petition.web import ready
from petition.web.caching import CORS, cacheable
from petition.web.deps import Services, ServicesDep
from petition.web.pages import campaign_state

AnyRequest = Request[Any, Any, Any]
JSON = "application/json"
PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    slug: str
    title: str
    kind: str  # "petition" or "letter"
    status: str  # "upcoming", "open" or "closed"
    count: int  # confirmed signatures
    paper: int  # of `count`, the signatures gathered on paper
    goal: int | None
    opens_at: str | None  # ISO 8601, UTC
    closes_at: str | None  # the instant signing stops (midnight after the last day)
    last_signature_at: str | None  # the latest confirmation still counted
    url: str  # the campaign's page
    events: str  # its live stream (Server-Sent Events)
    # The languages its text is given in, its own first (ISO 639-1; `?version=` on its page),
    # and its title in each.
    languages: list[str]
    titles: dict[str, str]


@dataclass(frozen=True, slots=True)
class CampaignList:
    campaigns: list[CampaignSummary]


@dataclass(frozen=True, slots=True)
class RoleCount:
    role: str
    count: int


@dataclass(frozen=True, slots=True)
class OrganisationCount:
    organisation: str
    count: int


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Only signers who agreed to publish their role (or organisation) are counted in it."""

    published: int  # confirmed signatures published with at least a name
    by_role: list[RoleCount]
    other_roles: int  # published roles beyond the 50 most frequent
    by_organisation: list[OrganisationCount]
    other_organisations: int


@dataclass(frozen=True, slots=True)
class CampaignDetail:
    campaign: CampaignSummary
    breakdown: Breakdown
    official: OfficialPetition | None = None  # the official petition beside ours, if any
    # Its milestones, lowest first, their meaning in the language asked (?lang=, else
    # Accept-Language), else in French, else in the one given.
    milestones: list[MilestoneInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MilestoneInfo:
    threshold: int  # confirmed signatures
    label: str | None  # what it means
    reached_at: str | None  # ISO 8601, UTC; null while not reached


@dataclass(frozen=True, slots=True)
class OfficialPetition:
    """The petition on an official platform this campaign supports; its count as last known."""

    url: str
    platform: str | None
    threshold: int | None  # signatures it needs
    deadline: str | None  # ISO 8601, UTC: the instant it stops (midnight after its last day)
    count: int | None  # as entered by organisers or read from its feed; null: not known
    count_at: str | None  # when that count was taken


@dataclass(frozen=True, slots=True)
class Signatory:
    first_name: str
    last_name: str
    role: str | None  # null unless the signer chose to publish it
    organisation: str | None  # null unless the signer chose to publish it
    signed_on: str  # the day of confirmation


@dataclass(frozen=True, slots=True)
class SignatoryPage:
    signatories: list[Signatory]
    next: str | None  # the next (older) page, if any


def _doc(model: type, description: str) -> dict[int, ResponseSpec]:
    return {
        200: ResponseSpec(data_container=model, description=description, media_type=JSON),
        304: ResponseSpec(None, description="The client's copy (ETag or date) is current."),
        404: ResponseSpec(
            None, description="No campaign has this address.", media_type="text/html"
        ),
    }


@get(
    "/campaigns",
    summary="Open campaigns and their counts",
    responses=_doc(CampaignList, "Every campaign open for signing, newest first."),
)
async def list_campaigns(request: AnyRequest, services: ServicesDep) -> Response[bytes]:
    now = services.clock()
    every = await services.hub.states()
    states = sorted((s for s in every if s.status(now) == "open"), key=lambda s: -s.id)
    body = _encode(CampaignList([_summary(services, s, now) for s in states]))
    # Over every campaign: one that closes or opens changes the list too.
    modified = max((s.modified(now) for s in every), default=services.hub.started_at)
    return cacheable(request, services.settings, body, JSON, modified)


@get(
    "/campaigns/{slug:str}",
    summary="One campaign: count, goal, dates, status and published breakdowns",
    responses=_doc(CampaignDetail, "The campaign's count and what its signers agreed to publish."),
)
async def campaign(
    request: AnyRequest,
    services: ServicesDep,
    slug: FromPath[str],
    lang: Annotated[
        str | None, QueryParameter(description="The language of milestones' meanings: fr, en.")
    ] = None,
) -> Response[bytes]:
    now = services.clock()
    state = await campaign_state(services, slug)
    tallies = await services.breakdowns.get(state.id)
    locale = i18n.negotiate(request.headers.get("accept-language"), lang)
    # The same snapshot, breakdown, status and language make the same bytes: encoded once.
    key = (state, tallies, state.status(now), locale)
    body = services.encoded.get(state.id, key)
    if body is None:
        detail = _detail(services, state, tallies, now, locale)
        body = services.encoded.put(state.id, key, _encode(detail))
    ready.keep(request, state)
    # The official count changes no count of ours: its date moves Last-Modified too.
    official_at = state.campaign.official_count_at
    modified = max(state.modified(now), official_at) if official_at else state.modified(now)
    answer = cacheable(request, services.settings, body, JSON, modified)
    answer.headers["Vary"] = "Accept-Encoding, Accept-Language"  # milestones' meanings
    return answer


def _detail(
    services: Services,
    state: CampaignState,
    tallies: published.Breakdown,
    now: datetime,
    locale: str = i18n.DEFAULT_LOCALE,
) -> CampaignDetail:
    return CampaignDetail(
        campaign=_summary(services, state, now),
        breakdown=Breakdown(
            published=tallies.published,
            by_role=[RoleCount(t.label, t.count) for t in tallies.by_role],
            other_roles=tallies.other_roles,
            by_organisation=[OrganisationCount(t.label, t.count) for t in tallies.by_organisation],
            other_organisations=tallies.other_organisations,
        ),
        official=_official(state),
        milestones=[
            MilestoneInfo(m.threshold, m.label(locale), iso(m.reached_at)) for m in state.milestones
        ],
    )


def _official(state: CampaignState) -> OfficialPetition | None:
    campaign = state.campaign
    if not campaign.official_url:
        return None
    return OfficialPetition(
        url=campaign.official_url,
        platform=campaign.official_platform,
        threshold=campaign.official_threshold,
        deadline=iso(campaign.official_deadline),
        count=campaign.official_count,
        count_at=iso(campaign.official_count_at),
    )


@get(
    "/campaigns/{slug:str}/events",
    summary="Live count (Server-Sent Events)",
    description=(
        "A `count` event with `{count, goal, status, last_signature_at}` at once, then each time"
        " the count changes, at most about once a second; a comment every 20 s keeps proxies"
        " from closing a quiet stream."
    ),
    responses={
        200: ResponseSpec(
            None, description="An endless event stream.", media_type="text/event-stream"
        ),
        404: ResponseSpec(
            None, description="No campaign has this address.", media_type="text/html"
        ),
    },
)
async def events(services: ServicesDep, slug: FromPath[str]) -> Stream:
    state = await campaign_state(services, slug)
    return Stream(
        services.hub.watch(state.id),
        media_type="text/event-stream",
        headers={
            **CORS,
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        },
    )


@get(
    "/campaigns/{slug:str}/signatories",
    summary="Signatories who agreed to be published, newest first",
    responses=_doc(SignatoryPage, "One page of 50; `next` leads to the older ones."),
)
async def signatories(
    request: AnyRequest,
    services: ServicesDep,
    slug: FromPath[str],
    cursor: Annotated[str | None, QueryParameter(description="From `next` of a page.")] = None,
) -> Response[bytes]:
    now = services.clock()
    state = await campaign_state(services, slug)
    async with services.reading() as session:
        page = await published.signatories(session, state.id, cursor)
    body = _encode(
        SignatoryPage(
            signatories=[
                Signatory(
                    s.first_name,
                    s.last_name,
                    s.role,
                    s.organisation,
                    s.confirmed_at.date().isoformat(),
                )
                for s in page.signatories
            ],
            next=(
                f"{services.settings.public_url}{PREFIX}/campaigns/{slug}/signatories"
                f"?cursor={page.next_cursor}"
                if page.next_cursor
                else None
            ),
        )
    )
    return cacheable(request, services.settings, body, JSON, state.modified(now), max_age=30)


def _summary(services: Services, state: CampaignState, now: datetime) -> CampaignSummary:
    base = services.settings.public_url
    versions = texts.versions(state.campaign, state.texts)
    return CampaignSummary(
        slug=state.slug,
        title=state.title,
        kind=state.kind,
        status=state.status(now),
        count=state.count,
        paper=state.campaign.paper_count,
        goal=state.goal,
        opens_at=iso(state.opens_at),
        closes_at=iso(state.closes_at),
        last_signature_at=iso(state.last_signature_at),
        url=Links(base).campaign(state.slug),
        events=f"{base}{PREFIX}/campaigns/{state.slug}/events",
        languages=[version.language for version in versions],
        titles={version.language: version.title for version in versions},
    )


def _encode(document: object) -> bytes:
    return json.dumps(asdict(document), ensure_ascii=False, separators=(",", ":")).encode()  # type: ignore[call-overload]  # always one of the dataclasses above


def router() -> Router:
    """The API's routes; preflight requests are answered for any origin (reads only)."""
    return Router(
        path=PREFIX,
        route_handlers=[list_campaigns, campaign, events, signatories],
        response_headers=[
            ResponseHeader(name="Access-Control-Allow-Origin", value="*"),
            ResponseHeader(name="Access-Control-Allow-Methods", value="GET, OPTIONS"),
            ResponseHeader(
                name="Access-Control-Allow-Headers",
                value="If-None-Match, If-Modified-Since, Last-Event-ID, Cache-Control",
            ),
            ResponseHeader(name="Access-Control-Max-Age", value="86400"),
        ],
        tags=["Public API"],
    )
