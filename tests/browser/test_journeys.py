"""People's journeys clicked in Chromium, on both databases: a signer signs (with JavaScript,
without it, and with the keyboard alone), confirms from the mail, sees the count rise, withdraws
and sees it fall; an organiser turns on two factors, signs in with a code and exports a CSV."""

from __future__ import annotations

import json
from typing import Any

import pyotp
import pytest

from petition.db import SessionFactory
from petition.models import Campaign, Role, SignatureStatus
from petition.settings import Settings
from tests.support import chromium, factories
from tests.support.accounts import PASSWORD
from tests.support.chromium import VENDOR
from tests.support.clock import FakeClock
from tests.support.journey import link
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
WIDGET = VENDOR / "altcha" / "altcha.min.js"


@pytest.fixture(autouse=True)
def browser() -> None:
    if problem := chromium.missing(WIDGET):
        chromium.unavailable(problem)


def _clean(report: dict[str, Any]) -> None:
    """No policy violation, no script error, nothing refused, nothing from another host."""
    assert report["csp"] == [], report["csp"]
    assert report["console"] == [], report["console"]
    assert report["failed"] == [], report["failed"]
    assert report["foreign"] == [], report["foreign"]


async def _sign(server: LiveServer, smtp: SmtpSink, email: str, **options: bool) -> dict[str, Any]:
    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        await smtp.wait_for(1)
        [mail] = smtp.to(question["mail"])
        return {"confirm": link(mail, "confirm"), "withdraw": link(mail, "withdraw")}

    spec = json.dumps({"slug": SLUG, "email": email, **options})
    report: dict[str, Any] = await chromium.converse(
        "journeys.mjs", server.base_url, "sign", spec, answer=answer, seconds=120
    )
    return report


def _signed_confirmed_and_withdrew(report: dict[str, Any]) -> None:
    names = [step["name"] for step in report["steps"]]
    assert names == [
        "filled", "thanks", "opened confirm", "pressed confirm", "opened withdraw",
        "pressed withdraw",
    ], report["steps"]  # fmt: skip
    assert report["steps"][1]["path"].endswith(f"/c/{SLUG}/thanks")
    assert report["steps"][3]["path"].endswith(f"/c/{SLUG}/confirmed")
    assert report["steps"][5]["path"].endswith(f"/c/{SLUG}/withdrawn")
    assert "Lovelace" not in report["withdrawnText"]
    before = report["before"]
    assert (report["confirmedPageCount"], report["afterConfirm"]) == (before + 1, before + 1)
    assert report["afterWithdraw"] == before


@pytest.mark.usefixtures("campaign")
@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
async def test_a_signer_signs_confirms_from_the_mail_and_withdraws(
    server: LiveServer, smtp: SmtpSink, javascript: bool
) -> None:
    report = await _sign(server, smtp, "ada@example.org", javaScript=javascript)
    _signed_confirmed_and_withdrew(report)
    _clean(report)


@pytest.mark.usefixtures("campaign")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_signer_signs_with_the_keyboard_alone_seeing_where_the_focus_is(
    server: LiveServer, smtp: SmtpSink
) -> None:
    report = await _sign(server, smtp, "ada.clavier@example.org", keyboard=True)
    _signed_confirmed_and_withdrew(report)
    _clean(report)
    assert report["consentTicked"]
    focused = report["focus"]
    reached = {f["element"] for f in focused}
    for wanted in ("#first_name", "#last_name", "#role", "#organisation", "#email", "#consent"):
        assert any(wanted in element for element in reached), (wanted, reached)
    assert focused[-1]["element"].startswith("button"), focused[-1]
    hidden = [f for f in focused if not f["visible"]]
    assert not hidden, json.dumps(hidden, indent=1)


async def test_an_organiser_turns_on_two_factors_and_exports_the_verified_list_as_csv(
    server: LiveServer,
    settings: Settings,
    sessions: SessionFactory,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    email = "claire@collectif-sante.org"
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=email, name="Claire", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=SignatureStatus.CONFIRMED, at=clock(),
        first_name="Ada", last_name="Lovelace",
    )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=SignatureStatus.PENDING, at=clock(),
        first_name="Pierre", last_name="Attente",
    )  # fmt: skip

    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        clock.advance(seconds=30)  # each code serves once: the next one, from the server's clock
        return {"code": pyotp.TOTP(question["totp"]).at(clock())}

    spec = json.dumps({"slug": SLUG, "email": email, "password": PASSWORD})
    report: dict[str, Any] = await chromium.converse(
        "journeys.mjs", server.base_url, "organiser", spec, answer=answer, seconds=120
    )
    _clean(report)
    assert [step["name"] for step in report["steps"]] == [
        "signed in with a password", "two factors on", "signed out", "signed in with a code",
        "exported",
    ]  # fmt: skip
    assert report["exportBefore"] == 0  # a password alone does not open the names
    assert report["filename"].startswith(f"{SLUG}-signatures-") and report["filename"].endswith(
        ".csv"
    )
    rows = [line.split(";") for line in report["csv"].lstrip("\ufeff").splitlines()]
    assert rows[0][:2] == ["Prénom", "Nom"]
    assert [row[:2] for row in rows[1:]] == [["Ada", "Lovelace"]]  # confirmed only
