"""The proof-of-work widget in a real browser: it runs under our strict policy, fetches nothing
from another host, and its solution is accepted; without JavaScript the form still signs."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from petition.db import SessionFactory
from petition.models import Signature, SpentChallenge
from petition.settings import Settings
from tests.support import chromium
from tests.support.chromium import VENDOR, missing
from tests.support.server import LiveServer

WIDGET = VENDOR / "altcha" / "altcha.min.js"
SLUG = "mission-sante"


@pytest.mark.usefixtures("campaign")
async def test_the_widget_solves_in_chromium_and_the_form_works_without_javascript(
    server: LiveServer, settings: Settings, sessions: SessionFactory
) -> None:
    if problem := missing(WIDGET):
        pytest.skip(f"browser test skipped: {problem}")
    report = await chromium.run(
        "browser.mjs", server.base_url, SLUG, "ada.js@example.org", "ada.nojs@example.org"
    )

    with_js, without_js = report["withJs"], report["withoutJs"]
    assert with_js["solved"] and with_js["url"].endswith(f"/c/{SLUG}/thanks")
    assert without_js["url"].endswith(f"/c/{SLUG}/thanks")
    for run in (with_js, without_js):
        # No policy violation, no script error, nothing refused, nothing from another host.
        assert run["console"] == [], run["console"]
        assert run["failed"] == [], run["failed"]
        assert all(url.startswith(server.base_url) for url in run["requests"]), run["requests"]
    assert f"{server.base_url}/c/{SLUG}/challenge" in with_js["requests"]
    assert f"{server.base_url}/static/vendor/altcha/pbkdf2.js" in with_js["requests"]
    assert not any("/challenge" in url for url in without_js["requests"])

    async with sessions() as session:
        held = await session.scalars(select(Signature.quarantine_rule))
        spent = await session.scalar(select(func.count()).select_from(SpentChallenge))
    # Both were taken as ordinary signatures; the one with JavaScript spent its challenge.
    assert list(held) == [None, None]
    assert spent == 1
