"""A reader who joins a sealed campaign later gets its older signatures only from another
reader, who seals the older data keys to them on their own machine; the server takes only
grants it lacks, all or none, and says who shared them."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from petition import readers, sealed_exports, sealing
from petition.cli_keys import read_public, write_key_pair
from petition.db import SessionFactory
from petition.models import AuditEntry, Campaign, KeyGrant, Role
from petition.settings import Settings
from tests.flows.test_sealed_names import SIGNERS, SLUG, _export, _sign_all
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.factories import organiser_with_role
from tests.support.journey import csrf_of, make_campaign
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink


def _grants_in(page: str) -> dict[str, list[dict[str, object]]]:
    found = re.search(r'<script type="application/json" id="share-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, list[dict[str, object]]] = json.loads(found.group(1))
    return data


def _share_lines(data: dict[str, list[dict[str, object]]], secret: bytes) -> list[str]:
    """What /static/keys.js does in the browser, in Python: open, check, seal to the others."""
    public = sealing.public_of(secret)
    opened = {}
    for grant in data["grants"]:
        if base64.b64decode(str(grant["reader"])) == public:
            value = sealing.open_grant(secret, base64.b64decode(str(grant["sealed_secret"])))
            assert sealing.public_of(value) == base64.b64decode(str(grant["data_public_key"]))
            opened[grant["key"]] = value
    return [
        f"{want['key']} {want['reader']} "
        + base64.b64encode(
            sealing.seal(base64.b64decode(str(want["reader_public_key"])), opened[want["key"]])
        ).decode()
        for want in data["missing"]
        if want["key"] in opened
    ]


async def test_an_older_data_key_is_shared_with_a_new_reader_all_or_nothing_and_audited(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
    tmp_path: Path,
) -> None:
    campaign = await make_campaign(sessions, clock)
    campaign_pub, campaign_key = write_key_pair(tmp_path / "campaign", None)
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(campaign_pub), clock())
    await _sign_all(server, smtp, [SIGNERS["none"]])  # sealed before Claire is a reader
    await organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER, email="claire@collectif.org",
        name="Claire", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    await organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.VIEWER, email="vic@collectif.org",
        name="Vic", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    claire_pub, claire_key = write_key_pair(tmp_path / "claire", None)
    async with server.client() as browser:  # Claire gives her key: the campaign rotates
        await login(browser, "claire@collectif.org", PASSWORD)
        page = await browser.get("/organiser/key")
        form = {"_csrf_token": csrf_of(page), "public_key": claire_pub.read_text()}
        assert (await browser.post("/organiser/key", data=form)).status_code == 303
        again = await browser.post("/organiser/key", data=form)  # given already: refused, and
        assert again.status_code == 422  # her key stays current (nothing changed)
        assert sealing.fingerprint(read_public(claire_pub)) in again.text
    await asyncio.sleep(1.1)  # every process's snapshot of the campaign follows within a second
    await _sign_all(server, smtp, [SIGNERS["name_role_org"]])
    export = await _export(sessions, campaign, tmp_path / "before.json")
    with pytest.raises(sealing.SealError, match="1 row"):
        sealed_exports.open_file(export.read_text(), sealing.decode_secret(claire_key.read_text()))

    async with server.client() as viewer:
        await login(viewer, "vic@collectif.org", PASSWORD)
        assert (await viewer.get(f"/dashboard/c/{SLUG}/keys")).status_code == 403

    async with server.client() as browser:
        await login(browser, "claire@collectif.org", PASSWORD)
        overview = await browser.get(f"/dashboard/c/{SLUG}")
        assert (
            'id="sealing-lacking"' in overview.text and f"/dashboard/c/{SLUG}/keys" in overview.text
        )
        page = await browser.get(f"/dashboard/c/{SLUG}/keys")
        assert page.status_code == 200 and "Claire" in page.text
        assert "'wasm-unsafe-eval'" in page.headers["content-security-policy"]
        data = _grants_in(page.text)
        assert len(data["missing"]) == 1  # the first data key, for Claire's key
        token = csrf_of(page)
        lines = _share_lines(data, sealing.decode_secret(campaign_key.read_text()))

        async def post(grants: str) -> int:
            answer = await browser.post(
                f"/dashboard/c/{SLUG}/keys", data={"_csrf_token": token, "grants": grants}
            )
            return answer.status_code

        # Bad input: a clear error, nothing written.
        key_id, reader_id, box = lines[0].split()
        assert await post("") == 422
        assert await post("pas des autorisations") == 422
        assert await post(f"{key_id} {reader_id} {base64.b64encode(b'court').decode()}") == 422
        assert await post(f"{key_id} 999 {box}") == 422  # not a pair the campaign lacks
        assert await post(f"{lines[0]}\n{lines[0]}") == 422  # twice
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(KeyGrant)) == 3

        assert await post(lines[0]) == 303
        assert await post(lines[0]) == 422  # shared already: nothing wanted any more
        after = await browser.get(f"/dashboard/c/{SLUG}")
        assert 'id="sealing-lacking"' not in after.text
        # The campaign page of the public keeps the plain policy: no WebAssembly there.
        public_page = await browser.get(f"/c/{SLUG}")
        assert "wasm" not in public_page.headers["content-security-policy"]

    export = await _export(sessions, campaign, tmp_path / "after.json")
    opened = sealed_exports.open_file(
        export.read_text(), sealing.decode_secret(claire_key.read_text())
    )
    assert {row[1] for row in opened.rows} == {"Zybertowicz", "Hurluberlu"}
    async with sessions() as session:
        fresh = await session.get(Campaign, campaign.id)
        entries = (
            await session.execute(
                select(AuditEntry.actor, AuditEntry.rows).where(AuditEntry.action == "share keys")
            )
        ).all()
    assert fresh is not None and [tuple(entry) for entry in entries] == [("Claire", 1)]
