"""The audit log reads as phrases in the owner's language, whatever details an action stored."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from petition import audit
from petition.audit_details import describe
from petition.db import SessionFactory
from petition.models import Campaign, Organiser, Role
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.server import LiveServer

OWNER = "claire@collectif-sante.org"
BEA = -1  # stands for the id Bea's account gets

# What each caller of audit.record stores (grep `audit.record(`), oldest first.
RECORDED: list[tuple[str, dict[str, object]]] = [
    ("create", {}),
    ("export", {"format": "csv", "status": "pending", "since": "2026-12-01T00:00:00+01:00"}),
    ("invalidate", {"ids": [3, 4], "reason": "robots"}),
    (
        "invalidate",
        {
            "name": "dupont",
            "organisation": "ACME",
            "email_domain": "spam.example",
            "until": "2026-12-06T00:00:00+01:00",
            "caught_by": "burst",
            "reason": "vague",
        },
    ),
    ("restore", {"ids": [3]}),
    ("release", {"rule": "too_fast"}),
    ("release", {"ids": [5, 6, 7]}),
    ("map domain", {"domain": "chu-lyon.fr", "organisation": "CHU de Lyon"}),
    ("unmap domain", {"domain": "chu-lyon.fr"}),
    ("add organiser", {"member": "Bea", "role": "editor"}),
    ("change organiser", {"member_id": BEA, "role": "viewer"}),
    ("change organiser", {"member_id": 404, "role": "none"}),  # an account since deleted
    ("import addressees", {"rows": 1200}),
    ("test letter", {}),
    ("send letter", {"action": "failed"}),
    # A key no caller stores today still reads as something.
    ("export", {"format": "json", "batch_size": 1500}),
]


@pytest.fixture
async def owner(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> Organiser:
    claire = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="Claire", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    bea = await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email="bea@collectif-sante.org", name="Bea", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    async with sessions() as session, session.begin():
        for n, (action, details) in enumerate(RECORDED):
            stored = {k: bea.id if v == BEA else v for k, v in details.items()}
            at = clock() + timedelta(seconds=n)
            await audit.record(session, campaign, claire, action, stored, 0, at)
    return claire


async def _log(server: LiveServer, language: str) -> list[str]:
    async with server.client() as browser:
        assert (await login(browser, OWNER, PASSWORD)).status_code == 303
        page = await browser.get(
            "/dashboard/c/mission-sante/audit", headers={"Accept-Language": language}
        )
    assert page.status_code == 200
    section = page.text[page.text.index('id="audit-title"') :]
    cells = re.findall(
        r"<tr>\s*<td[^>]*>.*?</td>\s*<td[^>]*>.*?</td>\s*<td[^>]*>(.*?)</td>", section, re.S
    )
    # Newest first on the page; oldest first here, as RECORDED.
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in cells][::-1]


@pytest.mark.usefixtures("owner")
async def test_every_stored_detail_reads_as_a_phrase(server: LiveServer) -> None:
    assert await _log(server, "en") == [
        "created the campaign",
        "exported signatures (Format: CSV, Status: Awaiting confirmation, from 1 December 2026)",
        "invalidated signatures (2 ticked signatures, Reason: robots)",
        "invalidated signatures (Name: dupont, Organisation: ACME, Email domain: spam.example,"
        " up to 5 December 2026, Rule: Too many signatures from one connection in 10 minutes,"
        " Reason: vague)",
        "restored signatures (1 ticked signature)",
        "released signatures from quarantine (Rule: Sent too soon after the form was shown)",
        "released signatures from quarantine (3 ticked signatures)",
        "mapped a domain to an organisation (Domain: chu-lyon.fr, Organisation: CHU de Lyon)",
        "removed a domain mapping (Domain: chu-lyon.fr)",
        "added an organiser (Name: Bea, Role: Editor)",
        "changed an organiser's role (Name: Bea, Role: Viewer)",
        "changed an organiser's role (organiser no. 404, removed from the campaign)",
        "imported addressees (1,200 addressees)",
        "sent a test letter",
        "sent the letter (again to those that failed)",
        "exported signatures (Format: JSON, batch size: 1,500)",
    ]


@pytest.mark.usefixtures("owner")
async def test_the_log_speaks_french_to_a_french_owner(server: LiveServer) -> None:
    lines = await _log(server, "fr")
    export, by_rule, member = lines[1], lines[3], lines[9]
    # The words the dashboard's forms use; labels and values alike are translated.
    for words in (
        "a exporté des signatures",
        "État",
        "En attente de confirmation",
        "1er décembre 2026",
    ):
        assert words in export
    for words in ("Nom", "Organisation", "Domaine des adresses", "5 décembre 2026", "Motif"):
        assert words in by_rule
    for words in ("a ajouté un organisateur", "Fonction", "Éditeur ou éditrice"):
        assert words in member
    assert "1 200" in lines[12]  # French digit grouping
    assert not [line for line in lines if re.search(r"\w=|_id\b|email_domain", line)]


def test_values_it_cannot_read_are_shown_as_stored() -> None:
    phrases = describe(
        {"status": "archived", "since": "yesterday", "role": "guest"}, locale="en", tz="UTC"
    )
    assert phrases == ["Status: archived", "since: yesterday", "Role: guest"]
