"""The organisers' key pages in a real browser (Debian's Chromium): a key made in the page, a
sealed export opened in the page, older signatures shared with a new reader — under the strict
policy (no inline script; WebAssembly allowed on these pages alone), with nothing secret sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from petition import readers, sealed_exports, sealing
from petition.cli import main
from petition.cli_keys import read_public, write_key_pair
from petition.db import SessionFactory
from petition.models import Campaign, Role
from petition.settings import Settings
from tests.flows.test_sealed_names import SIGNERS, SLUG, _export, _sign_all
from tests.support import chromium
from tests.support.accounts import PASSWORD, login
from tests.support.chromium import VENDOR, missing
from tests.support.clock import FakeClock
from tests.support.factories import organiser_with_role
from tests.support.journey import make_campaign
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SODIUM = VENDOR / "sodium" / "libsodium-wrappers.js"
PASSPHRASE = "une phrase de passe pour ma clé"


async def _step(
    server: LiveServer, cookies: httpx.Cookies, out: Path, step: str, *args: str
) -> dict[str, Any]:
    jar = [{"name": name, "value": value} for name, value in cookies.items()]
    report: dict[str, Any] = await chromium.run(
        "keys_browser.mjs", server.base_url, step, str(out), *args, env={"COOKIES": json.dumps(jar)}
    )
    # No policy violation, no script error, nothing refused, nothing from another host.
    assert report["console"] == [], report["console"]
    assert report["failed"] == [], report["failed"]
    assert all(r.split(" ", 1)[1].startswith(server.base_url) for r in report["requests"])
    for url, policy in report["policies"].items():
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, url
        assert "script-src 'self' 'wasm-unsafe-eval';" in policy, url
    return report


async def test_a_key_made_in_the_browser_opens_exports_there_and_with_the_command_line(
    server: LiveServer,
    smtp: SmtpSink,
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    password_hash: str,
    tmp_path: Path,
) -> None:
    if problem := missing(SODIUM):
        pytest.skip(f"browser test skipped: {problem}")
    # The campaign was sealed from the command line to its own key; a first signer signs.
    campaign = await make_campaign(sessions, clock)
    campaign_pub, campaign_key = write_key_pair(tmp_path / "campaign", None)
    async with sessions() as session, session.begin():
        await readers.add_campaign_key(session, campaign, read_public(campaign_pub), clock())
    claire = await organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER, email="claire@collectif.org",
        name="Claire", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    await _sign_all(server, smtp, [SIGNERS["none"]])
    async with server.client() as browser:
        assert (await login(browser, "claire@collectif.org", PASSWORD)).status_code == 303
        cookies = browser.cookies

    # Claire makes her key in the page; the campaign is sealed to it from now on.
    made = await _step(server, cookies, tmp_path, "create", PASSPHRASE)
    assert made["shortPassphrase"] and "trop courte" in made["shortPassphrase"]
    assert made["useDisabledBeforeSaved"]
    assert f"clé actuelle : {made['fingerprint']}" in made["after"].replace("\u202f", " ")
    key_text = made["keyText"]
    assert sealing.is_wrapped(key_text)
    secret = sealing.decode_secret(key_text, PASSPHRASE)  # PyNaCl opens what libsodium.js wrapped
    assert sealing.decode_secret(made["recovery"], PASSPHRASE) == secret  # the printed copy too
    public = read_public(Path(made["public"]))
    assert (
        sealing.public_of(secret) == public and sealing.fingerprint(public) == made["fingerprint"]
    )
    # Only the public half went to the server: no secret, no passphrase in anything sent.
    [post] = made["posts"]
    sent = httpx.QueryParams(post["body"])
    assert sealing.decode_public(sent["public_key"]) == public
    assert PASSPHRASE not in post["body"] and key_text.split(":")[1][:20] not in post["body"]
    async with sessions() as session:
        assert await readers.current_key(session, claire.id) == public
        fresh = await session.get(Campaign, campaign.id)
        assert fresh is not None and len(await readers.reader_keys(session, fresh.id)) == 2

    await _sign_all(server, smtp, [SIGNERS["name_role_org"]])
    export = await _export(sessions, campaign, tmp_path / "sealed.json")

    # Her key opens the second signer; the first was sealed before she was a reader.
    refused = await _step(server, cookies, tmp_path, "open", str(export), made["key"], PASSPHRASE)
    assert refused["problem"] and "ne s’ouvrent pas : 1 (1)" in refused["problem"]
    assert refused["posts"] == []  # opening sends nothing at all
    wrong = await _step(server, cookies, tmp_path, "open", str(export), made["key"], "pas la bonne")
    assert wrong["problem"] and "phrase de passe" in wrong["problem"]

    # The holder of the campaign's key shares the older data key with her, from the page.
    shared = await _step(server, cookies, tmp_path, "share", SLUG, str(campaign_key), "")
    assert "Autorisations partagées : 1." in shared["after"].replace("\u202f", " ")
    [post] = shared["posts"]
    assert campaign_key.read_text().split(":")[1].strip()[:20] not in post["body"]
    export = await _export(sessions, campaign, tmp_path / "sealed-again.json")
    opened = await _step(server, cookies, tmp_path, "open", str(export), made["key"], PASSPHRASE)
    assert opened["problem"] is None, opened["problem"]
    assert opened["count"].startswith("2 ")
    assert opened["posts"] == []

    # What the browser opened is what `petition export open` gives, byte for byte (CSV).
    cli_csv = tmp_path / "cli.csv"
    args = ["export", "open", str(export), "--key", str(campaign_key), "--format", "csv"]
    assert await asyncio.to_thread(main, [*args, "--output", str(cli_csv)]) == 0
    browser_csv, browser_json = Path(opened["csv"]), Path(opened["json"])
    assert await asyncio.to_thread(browser_csv.read_bytes) == cli_csv.read_bytes()
    rows = json.loads(await asyncio.to_thread(browser_json.read_text))
    by_name = {row["last_name"]: row for row in rows}
    assert set(by_name) == {"Zybertowicz", "Hurluberlu"}
    assert by_name["Zybertowicz"]["organisation"] == "Clinique Ormeraie"
    assert by_name["Zybertowicz"]["publication"] == "none"
    python_rows = sealed_exports.open_file(export.read_text(), secret).rows
    assert sorted(r[1] or "" for r in python_rows) == sorted(by_name)
