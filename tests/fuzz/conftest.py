"""A populated site for the fuzzers: campaigns in every state, signers, links mailed, an organiser.

The fuzzers reach deep paths only with values that exist: the slugs, the tokens and the address
gathered here are mixed into what they draw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import schemathesis.generation.hypothesis.builder  # noqa: F401  # patches Hypothesis: undone below
from hypothesis import core as hypothesis_core
from hypothesis.vendor import pretty

from petition import campaigns
from petition.db import SessionFactory
from petition.models import CampaignKind, Publication, Role, SignatureStatus
from petition.settings import Settings
from tests.fuzz.oracle import ServerLog
from tests.support.accounts import PASSWORD
from tests.support.clock import FakeClock
from tests.support.factories import organiser_with_role
from tests.support.journey import csrf_of, link, make_campaign, sign, signer
from tests.support.public import campaign_on, signatures
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

# Importing schemathesis (its pytest plugin does, at start) swaps Hypothesis's printer for one
# that prints nothing, to speed up its own coverage phase: every falsifying example would then be
# reported as `fuzz(slug=, drawn=, …)`. Hypothesis's own printer is put back.
hypothesis_core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[attr-defined]

ORGANISER = "claire.organisatrice@example.org"
KIT_SLUG = "ecrire-aux-elus"
PUBLISHED = 60  # more than a page of signatories (50): a `next` cursor exists


@dataclass(frozen=True)
class World:
    """What exists on the server under test, for the strategies to draw from."""

    base_url: str
    open_slugs: tuple[str, ...]  # campaigns taking signatures: a petition and a letter
    other_slugs: tuple[str, ...]  # upcoming and closed
    confirm_token: str  # a pending signature's confirmation link
    withdraw_tokens: tuple[str, ...]  # a pending and a confirmed signature's own page
    manage_token: str  # the "manage my signature" link
    organiser: str  # an organiser's address (password: tests.support.accounts.PASSWORD)
    password: str
    max_body_bytes: int
    database_url: str

    @property
    def slugs(self) -> tuple[str, ...]:
        return self.open_slugs + self.other_slugs

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.confirm_token, *self.withdraw_tokens, self.manage_token)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every drawn login should reach the password check, not the throttle after 5 or 20 tries.
    return dataclasses.replace(
        settings, login_attempts_per_account=1_000_000, login_attempts_per_client=1_000_000
    )


@pytest.fixture
def server_log(server: LiveServer) -> Iterator[ServerLog]:
    """The server's log records while it serves (attached after the app configured logging)."""
    with ServerLog().attached() as log:
        yield log


@pytest.fixture
async def world(
    server_log: ServerLog,
    server: LiveServer,
    settings: Settings,
    sessions: SessionFactory,
    clock: FakeClock,
    smtp: SmtpSink,
    password_hash: str,
) -> World:
    today = clock.now.date()
    petition = await make_campaign(sessions, clock)
    letter = await campaign_on(sessions, clock, "lettre-ouverte", kind=CampaignKind.LETTER)
    await _campaign_with_kit(sessions, clock)
    await campaign_on(sessions, clock, "bientot", opens=today + timedelta(days=30))
    await campaign_on(sessions, clock, "terminee", closes=today - timedelta(days=30))
    at = clock.now - timedelta(days=1)
    for campaign in (petition, letter):
        rows = [
            (f"Prénom{n}", f"Nom{n}", Publication.NAME_ROLE_ORG, SignatureStatus.CONFIRMED, at)
            for n in range(PUBLISHED)
        ]
        await signatures(sessions, campaign, rows)
    await organiser_with_role(
        sessions,
        settings.load_secret_key(),
        petition,
        Role.OWNER,
        email=ORGANISER,
        name="Claire",
        password_hash=password_hash,
        now=clock(),
    )
    async with server.client() as browser:
        assert (await sign(browser, petition.slug, signer("camille@example.org"))).is_redirect
        assert (await sign(browser, petition.slug, signer("jeanne@example.org"))).is_redirect
        pending, confirmed = await smtp.wait_for(2)
        if pending["To"] != "camille@example.org":
            pending, confirmed = confirmed, pending
        confirm = link(confirmed, "confirm")
        page = await browser.get(confirm)
        assert (await browser.post(confirm, data={"_csrf_token": csrf_of(page)})).is_redirect
        page = await browser.get("/manage")
        form = {"_csrf_token": csrf_of(page), "email": "camille@example.org", "website": ""}
        assert (await browser.post("/manage", data=form)).is_redirect
        *_, manage_mail = await smtp.wait_for(3)
    return World(
        base_url=server.base_url,
        open_slugs=(petition.slug, letter.slug, KIT_SLUG),
        other_slugs=("bientot", "terminee"),
        confirm_token=_last_segment(link(pending, "confirm")),
        withdraw_tokens=(
            _last_segment(link(pending, "withdraw")),
            _last_segment(link(confirmed, "withdraw")),
        ),
        manage_token=_last_segment(link(manage_mail, "manage")),
        organiser=ORGANISER,
        password=PASSWORD,
        max_body_bytes=settings.max_body_bytes,
        database_url=settings.resolved_database_url,
    )


async def _campaign_with_kit(sessions: SessionFactory, clock: FakeClock) -> None:
    """An open petition offering an action kit, titled as a multilingual campaign may be."""
    spec = campaigns.CampaignSpec(
        slug=KIT_SLUG,
        title="Gesundheitsdaten : 健康データ",
        kind=CampaignKind.PETITION,
        goal=None,
        closes=None,
        body_markdown="Écrivez à vos élus.",
        kit=campaigns.ActionKit(
            title="Lettre aux élus — 健康データ",
            subject="Lettre de {first_name} {last_name}, le {date}",
            body="Madame, Monsieur,\n\n{first_name} {last_name} vous écrit ({unknown}).",
            email="elus@example.org",
        ),
    )
    async with sessions() as session, session.begin():
        await campaigns.create(session, spec, now=clock(), tz="Europe/Paris")


def _last_segment(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2]
