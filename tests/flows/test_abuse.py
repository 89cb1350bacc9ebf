"""Quiet defences of the signing form: whatever rule a submission trips, its sender gets the
same answer and the same mail as anyone; it is only held out of the count, for organisers to
judge. Proof of work, honeypot, form stamp, limits per address (in memory or Redis), quarantine."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import altcha
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from petition import quarantine
from petition.db import SessionFactory
from petition.models import AbuseSignal, Campaign, Role, Signature, SignatureStatus
from petition.settings import Settings
from tests.support import factories
from tests.support.accounts import PASSWORD, login
from tests.support.clock import FakeClock
from tests.support.journey import (
    csrf_of,
    displayed_count,
    hidden_fields,
    link,
    make_campaign,
    press,
    settled_count,
    signer,
)
from tests.support.public import api_count, eventually
from tests.support.server import serve
from tests.support.smtp import SmtpSink, free_port
from tests.support.statements import executed

SLUG = "mission-sante"
OTHER = "autre-campagne"
PAUSE = 5  # seconds a person takes to fill in the form: more than form_min_seconds
CONFIRMED = SignatureStatus.CONFIRMED
QUARANTINED = SignatureStatus.QUARANTINED
PENDING = SignatureStatus.PENDING
EDITOR = "editrice@collectif-sante.org"
VIEWER = "lecteur@collectif-sante.org"
STRANGER = "stranger@autre-collectif.org"
Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Editors here sign in with a password only: that names need a second factor by default
    is tested in tests/flows/test_two_factor.py; here, what editors do with them."""
    return dataclasses.replace(settings, exports_require_2fa=False)


@pytest.fixture
def clock() -> FakeClock:
    """Just after midnight UTC: limits count in fixed windows (10 minutes, one day) and the
    address salt changes with the day, so that no test straddles a boundary by chance."""
    return FakeClock(datetime.now(UTC).replace(hour=0, minute=0, second=1, microsecond=0))


def realistic(settings: Settings, **changes: Any) -> Settings:
    """What a real site uses (the conftest turns the defences off), with a cheap proof of work."""
    site = {
        "form_min_seconds": 3,
        "burst_limit": 10,
        "sustained_limit": 60,
        "nojs_burst_limit": 3,
        "nojs_sustained_limit": 15,
        "pow_cost": 10,
    }
    return dataclasses.replace(settings, **(site | changes))


def email_of(name: str) -> str:
    return f"{name.lower()}@example.org"


def person(name: str, email: str = "") -> dict[str, str]:
    """A signer told apart by their last name."""
    return signer(email or email_of(name), first_name="Test", last_name=name)


async def solve(browser: httpx.AsyncClient, slug: str = SLUG) -> str:
    """What the widget does: fetch the campaign's challenge, solve it, encode the payload."""
    answer = await browser.get(f"/c/{slug}/challenge")
    assert answer.status_code == 200
    challenge = altcha.Challenge.from_dict(answer.json())
    solution = altcha.solve_challenge(challenge, timeout=20)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


async def send(
    browser: httpx.AsyncClient,
    clock: FakeClock,
    fields: dict[str, str],
    *,
    slug: str = SLUG,
    work: str | None = None,
    changes: Mapping[str, str | None] | None = None,
    pause: float = PAUSE,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Open the form, take `pause` seconds to fill it in, send it: with the proof of work
    `work` (JavaScript) or without it; `changes` alters (None: removes) what is sent."""
    page = await browser.get(f"/c/{slug}", headers=headers)
    assert page.status_code == 200
    data = {**hidden_fields(page), **fields}
    if work is not None:
        data["altcha"] = work
    for name, value in (changes or {}).items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    clock.advance(seconds=pause)
    return await browser.post(f"/c/{slug}", data=data, headers=headers)


async def send_js(
    browser: httpx.AsyncClient,
    clock: FakeClock,
    fields: dict[str, str],
    *,
    slug: str = SLUG,
    changes: Mapping[str, str | None] | None = None,
    pause: float = PAUSE,
) -> httpx.Response:
    work = await solve(browser, slug)
    return await send(browser, clock, fields, slug=slug, work=work, changes=changes, pause=pause)


def answer(response: httpx.Response) -> Answer:
    """All a sender can see of the answer, but its date."""
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k != "date"))
    return response.status_code, headers, response.content


def thanks(response: httpx.Response, slug: str = SLUG) -> None:
    assert (response.status_code, response.headers["location"]) == (303, f"/c/{slug}/thanks")


async def mail_to(smtp: SmtpSink, address: str, count: int = 1) -> list[EmailMessage]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        found = smtp.to(address)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} mails to {address}, got {len(smtp.to(address))}")


async def confirm(browser: httpx.AsyncClient, smtp: SmtpSink, *names: str) -> None:
    """Each signer opens their mail and presses the confirmation button."""
    for name in names:
        [mail] = await mail_to(smtp, email_of(name))
        assert (await press(browser, link(mail, "confirm"))).status_code == 303


async def states(sessions: SessionFactory) -> dict[str, tuple[SignatureStatus, str | None]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Signature.last_name, Signature.status, Signature.quarantine_rule)
        )
    return {str(name): (status, rule) for name, status, rule in rows.all()}


async def signals(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(select(AbuseSignal.rule).order_by(AbuseSignal.id))
    return list(rows.scalars())


def tampered_data(payload: str) -> str:
    """The challenge's signed data changed: a later expiry."""
    decoded = json.loads(base64.b64decode(payload))
    decoded["challenge"]["parameters"]["data"]["expires"] += 3600
    return base64.b64encode(json.dumps(decoded).encode()).decode()


def tampered_key(payload: str) -> str:
    """The solution's derived key changed (one hex digit)."""
    decoded = json.loads(base64.b64decode(payload))
    key = decoded["solution"]["derivedKey"]
    decoded["solution"]["derivedKey"] = key[:-1] + ("0" if key[-1] != "0" else "1")
    return base64.b64encode(json.dumps(decoded).encode()).decode()


# Proof of work


async def test_a_solved_challenge_and_a_form_without_javascript_are_both_counted(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    site = realistic(settings)
    async with serve(site, clock) as server, server.client() as browser:
        issued = await browser.get(f"/c/{SLUG}/challenge")
        assert issued.headers["cache-control"] == "no-store"
        parameters = issued.json()["parameters"]
        # A short derivation per attempt; the key prefix is half the key of the counter to find.
        assert (parameters["algorithm"], parameters["cost"]) == ("PBKDF2/SHA-256", 312)
        assert re.fullmatch("[0-9a-f]{32}", parameters["keyPrefix"])
        expires = int((clock() + timedelta(minutes=site.pow_minutes)).timestamp())
        assert parameters["data"] == {"campaign": campaign.id, "expires": expires}

        with_js = await send_js(browser, clock, person("Ajax"))
        without_js = await send(browser, clock, person("Nojs"))
        # Solved now, sent a minute before the challenge expires: still good.
        work = await solve(browser)
        clock.advance(minutes=site.pow_minutes - 1)
        late = await send(browser, clock, person("Slow"), work=work)
        thanks(with_js)
        assert answer(with_js) == answer(without_js) == answer(late)

        await confirm(browser, smtp, "Ajax", "Nojs", "Slow")
        assert await displayed_count(browser, SLUG) == 3
        await eventually(lambda: api_count(browser, SLUG), lambda n: n == 3)
    assert await states(sessions) == {
        "Ajax": (CONFIRMED, None),
        "Nojs": (CONFIRMED, None),
        "Slow": (CONFIRMED, None),
    }
    assert await signals(sessions) == []


async def bad_work(kind: str, browser: httpx.AsyncClient, clock: FakeClock, spent: str) -> str:
    """A proof of work that is wrong in one way; `spent` is one already accepted."""
    if kind == "tampered data":
        return tampered_data(await solve(browser))
    if kind == "tampered key":
        return tampered_key(await solve(browser))
    if kind == "garbage":
        return "bm90IGEgcGF5bG9hZA=="
    if kind == "expired":
        work = await solve(browser)
        clock.advance(minutes=realistic_pow_minutes + 1)
        return work
    if kind == "replayed":
        return spent  # a second signer sends the first one's solution
    return await solve(browser, OTHER)


realistic_pow_minutes = Settings().pow_minutes


@pytest.mark.parametrize(
    ("kind", "rule"), [("expired", "pow_expired"), ("replayed", "pow_replayed")]
)
async def test_a_proof_of_work_a_person_can_spoil_gets_the_same_answer_and_is_held(
    kind: str,
    rule: str,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """A page left open past the challenge's life, a form sent twice: held, not lost."""
    await make_campaign(sessions, clock, slug=OTHER)
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        work = await solve(browser)
        good = await send(browser, clock, person("Honest"), work=work)
        thanks(good)
        bad = await send(
            browser, clock, person("Caught"), work=await bad_work(kind, browser, clock, work)
        )
        assert answer(bad) == answer(good)

        await confirm(browser, smtp, "Honest", "Caught")  # both were mailed alike
        assert await displayed_count(browser, SLUG) == 1
    assert await states(sessions) == {"Honest": (CONFIRMED, None), "Caught": (QUARANTINED, rule)}
    assert await signals(sessions) == [rule]


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("tampered data", "pow_invalid"),
        ("tampered key", "pow_invalid"),
        ("garbage", "pow_invalid"),
        ("other campaign", "pow_campaign"),
    ],
)
async def test_a_forged_proof_of_work_gets_the_same_answer_and_leaves_nothing(
    kind: str,
    rule: str,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """No browser sends an altered proof or one made for another campaign: a forger's form is
    answered like any other, and neither its names nor a mail come of it."""
    await make_campaign(sessions, clock, slug=OTHER)
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        work = await solve(browser)
        good = await send(browser, clock, person("Honest"), work=work)
        bad = await send(
            browser, clock, person("Forged"), work=await bad_work(kind, browser, clock, work)
        )
        assert answer(bad) == answer(good)
        await nothing_came_of(browser, clock, smtp, "Forged")
    assert await states(sessions) == {"Honest": (PENDING, None), "Later": (PENDING, None)}
    assert await signals(sessions) == [rule]


async def nothing_came_of(
    browser: httpx.AsyncClient, clock: FakeClock, smtp: SmtpSink, name: str
) -> None:
    """Someone signing after `name` gets their mail; by then none went to `name`."""
    thanks(await send_js(browser, clock, person("Later")))
    await mail_to(smtp, email_of("Later"))
    assert smtp.to(email_of(name)) == []


# Honeypot and form stamp


async def stamp_changes(
    kind: str, browser: httpx.AsyncClient
) -> tuple[dict[str, str | None], float]:
    """What a script alters of the form's stamp (and how long it waits): kind by kind."""
    shown = hidden_fields(await browser.get(f"/c/{SLUG}"))["shown"]
    moment, _dot, mac = shown.partition(".")
    if kind == "honeypot":
        return {"website": "https://cheap-pills.example"}, PAUSE
    if kind == "too fast":
        return {}, 1
    if kind == "long open":  # read for a day and a half before signing
        return {}, 36 * 3600
    if kind == "no stamp":
        return {"shown": None}, PAUSE
    if kind == "forged stamp":
        return {"shown": f"{moment}.{'0' * len(mac)}"}, PAUSE
    if kind == "backdated stamp":  # a script making itself look slow
        return {"shown": f"{int(moment) - 60}.{mac}"}, 0
    return {"shown": hidden_fields(await browser.get(f"/c/{OTHER}"))["shown"]}, PAUSE


@pytest.mark.parametrize(
    ("kind", "rule"),
    [("honeypot", "honeypot"), ("too fast", "too_fast"), ("long open", "form_expired")],
)
async def test_a_form_trap_a_person_can_fall_into_gets_the_same_answer_and_is_held(
    kind: str,
    rule: str,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """An autofilled hidden field, a form sent in a second, a tab left open overnight."""
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        good = await send_js(browser, clock, person("Honest"))
        thanks(good)
        changes, pause = await stamp_changes(kind, browser)
        bad = await send_js(browser, clock, person("Caught"), changes=changes, pause=pause)
        assert answer(bad) == answer(good)

        await confirm(browser, smtp, "Honest", "Caught")
        assert await displayed_count(browser, SLUG) == 1
    assert await states(sessions) == {"Honest": (CONFIRMED, None), "Caught": (QUARANTINED, rule)}
    assert await signals(sessions) == [rule]


@pytest.mark.parametrize(
    "kind", ["no stamp", "forged stamp", "backdated stamp", "other campaign's stamp"]
)
async def test_a_forged_form_stamp_gets_the_same_answer_and_leaves_nothing(
    kind: str,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """Only a script sends a stamp this site never issued for this campaign's form."""
    await make_campaign(sessions, clock, slug=OTHER)
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        good = await send_js(browser, clock, person("Honest"))
        changes, pause = await stamp_changes(kind, browser)
        bad = await send_js(browser, clock, person("Forged"), changes=changes, pause=pause)
        assert answer(bad) == answer(good)
        await nothing_came_of(browser, clock, smtp, "Forged")
    assert await states(sessions) == {"Honest": (PENDING, None), "Later": (PENDING, None)}
    assert await signals(sessions) == ["form_stamp"]


async def test_a_held_signer_cannot_tell_from_what_follows(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """After confirming, what a held signer sees is what a counted one sees: their second
    confirmation link (they had signed twice) and the mail when they sign once more."""
    seen: dict[str, tuple[int, bool, str]] = {}
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        for name, trap in (("Honest", {}), ("Caught", {"website": "x"})):
            for _ in range(2):  # twice before confirming: two confirmation mails
                thanks(await send_js(browser, clock, person(name), changes=trap))
            first, second = await mail_to(smtp, email_of(name), 2)
            assert (await press(browser, link(first, "confirm"))).status_code == 303
            reopened = await browser.get(link(second, "confirm"))
            await send_js(browser, clock, person(name))
            third = (await mail_to(smtp, email_of(name), 3))[2]
            seen[name] = (reopened.status_code, "<form" in reopened.text, str(third["Subject"]))
        assert await displayed_count(browser, SLUG) == 1
    assert seen["Honest"][2].startswith("Vous avez déjà signé")
    assert seen["Caught"] == seen["Honest"]
    assert (await states(sessions))["Caught"] == (QUARANTINED, "honeypot")


# Limits per client address


async def test_a_burst_from_one_address_is_held_beyond_the_limit_on_that_campaign_only(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    await make_campaign(sessions, clock, slug=OTHER)
    site = realistic(settings)
    here = [f"Here{n:02d}" for n in range(site.burst_limit + 2)]
    there = [f"There{n}" for n in range(3)]
    async with serve(site, clock) as server, server.client() as browser:
        answers = [await send_js(browser, clock, person(name)) for name in here]
        elsewhere = [await send_js(browser, clock, person(name), slug=OTHER) for name in there]
        thanks(answers[0])
        thanks(elsewhere[0], OTHER)
        assert len({answer(a) for a in answers}) == 1
        assert len({answer(a) for a in elsewhere}) == 1

        await confirm(browser, smtp, *here, *there)
        assert await displayed_count(browser, SLUG) == site.burst_limit
        assert await displayed_count(browser, OTHER) == len(there)
    found = await states(sessions)
    assert [found[name] for name in here] == [(CONFIRMED, None)] * site.burst_limit + [
        (QUARANTINED, "burst")
    ] * 2
    assert {found[name] for name in there} == {(CONFIRMED, None)}
    assert await signals(sessions) == ["burst", "burst"]


async def test_forms_without_javascript_meet_the_stricter_limits_first(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    await make_campaign(sessions, clock, slug=OTHER)
    site = realistic(settings)
    count = site.nojs_burst_limit + 2
    assert count <= site.burst_limit
    async with serve(site, clock) as server, server.client() as browser:
        plain = [await send(browser, clock, person(f"Plain{n}")) for n in range(count)]
        worked = [
            await send_js(browser, clock, person(f"Worked{n}"), slug=OTHER) for n in range(count)
        ]
        assert len({answer(a) for a in plain}) == 1
        assert len({answer(a) for a in worked}) == 1
    found = await states(sessions)
    assert [found[f"Plain{n}"] for n in range(count)] == [(PENDING, None)] * 3 + [
        (PENDING, "burst")
    ] * 2
    assert {found[f"Worked{n}"] for n in range(count)} == {(PENDING, None)}


async def test_a_steady_stream_without_javascript_is_held_beyond_the_daily_limit(
    settings: Settings, clock: FakeClock, sessions: SessionFactory, campaign: Campaign
) -> None:
    site = realistic(settings)
    names = [f"Steady{n:02d}" for n in range(site.nojs_sustained_limit + 1)]
    async with serve(site, clock) as server, server.client() as browser:
        for n, name in enumerate(names):
            if n and n % site.nojs_burst_limit == 0:
                clock.advance(minutes=10)  # the next burst window: never over the burst limit
            thanks(await send(browser, clock, person(name)))
    found = await states(sessions)
    assert [found[name][1] for name in names] == [None] * site.nojs_sustained_limit + ["sustained"]


async def test_x_forwarded_for_from_an_untrusted_peer_changes_nothing(
    settings: Settings, clock: FakeClock, sessions: SessionFactory, campaign: Campaign
) -> None:
    site = realistic(settings)
    names = [f"Spoof{n}" for n in range(site.nojs_burst_limit + 2)]
    async with serve(site, clock) as server, server.client() as browser:
        answers = [
            await send(browser, clock, person(name), headers={"X-Forwarded-For": f"198.51.100.{n}"})
            for n, name in enumerate(names)
        ]
        assert len({answer(a) for a in answers}) == 1
    found = await states(sessions)
    assert [found[name][1] for name in names] == [None] * 3 + ["burst"] * 2


async def test_behind_a_trusted_proxy_x_forwarded_for_tells_clients_apart(
    settings: Settings, clock: FakeClock, sessions: SessionFactory, campaign: Campaign
) -> None:
    site = realistic(settings, trusted_proxies="10.9.8.0/24, 127.0.0.1")
    crowd = [f"Crowd{n}" for n in range(site.nojs_burst_limit + 2)]
    one = [f"One{n}" for n in range(site.nojs_burst_limit + 2)]
    async with serve(site, clock) as server, server.client() as browser:
        for n, name in enumerate(crowd):  # distinct people behind the proxy
            forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
            thanks(await send(browser, clock, person(name), headers=forwarded))
        for n, name in enumerate(one):
            # One client writing anything on the left, then through two trusted proxies.
            forwarded = {"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.7, 10.9.8.1"}
            thanks(await send(browser, clock, person(name), headers=forwarded))
    found = await states(sessions)
    assert {found[name] for name in crowd} == {(PENDING, None)}
    assert [found[name][1] for name in one] == [None] * 3 + ["burst"] * 2


async def test_with_redis_two_app_instances_share_the_counts(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
    redis_url: str,
) -> None:
    # A secret of its own: counts of other runs on the same Redis server are not ours.
    site = realistic(settings, redis_url=redis_url, secret_key=f"test-{secrets.token_hex(24)}")
    second_site = dataclasses.replace(site, run_mail_sender=False)  # one sender is enough
    names = [f"Split{n}" for n in range(2 * site.nojs_burst_limit)]
    async with (
        serve(site, clock) as first,
        serve(second_site, clock) as second,
        first.client() as a,
        second.client() as b,
    ):
        answers = [await send((a, b)[n % 2], clock, person(name)) for n, name in enumerate(names)]
        thanks(answers[0])
        assert len({answer(r) for r in answers}) == 1
        await confirm(a, smtp, *names[::2])
        await confirm(b, smtp, *names[1::2])
        assert await settled_count(a, SLUG, site.nojs_burst_limit) == site.nojs_burst_limit
        assert await settled_count(b, SLUG, site.nojs_burst_limit) == site.nojs_burst_limit
    found = await states(sessions)
    assert [found[name] for name in names] == [(CONFIRMED, None)] * 3 + [(QUARANTINED, "burst")] * 3


async def test_signing_goes_on_when_redis_is_away(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """The anti-abuse store is a help, not a dependency: with Redis unreachable every form is
    still answered and mailed, and this process counts (and holds bursts) on its own."""
    site = realistic(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    names = [f"SansRedis{n}" for n in range(site.nojs_burst_limit + 1)]
    async with serve(site, clock) as server, server.client() as browser:
        answers = [await send(browser, clock, person(name)) for name in names]
        thanks(answers[0])
        assert len({answer(r) for r in answers}) == 1
        await confirm(browser, smtp, *names)
        assert await displayed_count(browser, SLUG) == site.nojs_burst_limit
    found = await states(sessions)
    assert found[names[-1]] == (QUARANTINED, "burst")


# Organisers


_HELD_RULE = re.compile(
    r'<tr data-rule="([a-z_]+)">\s*<th[^>]*>.*?</th>\s*<td[^>]*>(\d+)</td>', re.S
)
_SPIKE = re.compile(
    r'<tr( class="spiking")? data-(spike|domain)="([^"]+)"><th[^>]*>.*?</th>'
    r"<td[^>]*>(\d+)</td><td[^>]*>(\d+)</td>",
    re.S,
)
_TICK = re.compile(r'name="id" value="(\d+)" id="held-\d+" aria-label="Test (\w+)"')


def by_rule(page: httpx.Response) -> dict[str, int]:
    return {name: int(n) for name, n in _HELD_RULE.findall(page.text)}


def spikes(page: httpx.Response, kind: str) -> dict[str, tuple[int, int, bool]]:
    return {
        name: (int(last), int(before), bool(marked))
        for marked, found, name, last, before in _SPIKE.findall(page.text)
        if found == kind
    }


def ticks(page: httpx.Response) -> dict[str, str]:
    """Held signatures listed: last name -> the id their checkbox sends."""
    return {name: ident for ident, name in _TICK.findall(page.text)}


@pytest.fixture
async def organisers(
    sessions: SessionFactory,
    settings: Settings,
    clock: FakeClock,
    campaign: Campaign,
    password_hash: str,
) -> None:
    secret = settings.load_secret_key()
    other = await make_campaign(sessions, clock, slug=OTHER)
    for email, role, on in (
        (EDITOR, Role.EDITOR, campaign),
        (VIEWER, Role.VIEWER, campaign),
        (STRANGER, Role.OWNER, other),
    ):
        await factories.organiser_with_role(
            sessions, secret, on, role,
            email=email, name=email.split("@")[0], password_hash=password_hash, now=clock(),
        )  # fmt: skip


@pytest.mark.usefixtures("organisers")
async def test_organisers_release_and_invalidate_what_is_held(
    settings: Settings, clock: FakeClock, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        await send_js(browser, clock, person("Honest"))
        for name in ("Pot", "Potpending"):
            await send_js(browser, clock, person(name), changes={"website": "x"})
        for name in ("Fast", "Faster"):
            await send_js(browser, clock, person(name), pause=0)
        await confirm(browser, smtp, "Honest", "Pot", "Fast", "Faster")  # not Potpending yet
        assert await displayed_count(browser, SLUG) == 1

        await login(browser, EDITOR, PASSWORD)
        base = f"/dashboard/c/{SLUG}/quarantine"
        page = await browser.get(base)
        assert page.status_code == 200
        assert by_rule(page) == {"honeypot": 2, "too_fast": 2}
        assert set(ticks(page)) == {"Pot", "Potpending", "Fast", "Faster"}
        assert spikes(page, "spike") == {"honeypot": (2, 0, False), "too_fast": (2, 0, False)}
        assert spikes(page, "domain") == {"example.org": (5, 0, False)}
        only_pots = await browser.get(base, params={"rule": "honeypot"})
        assert set(ticks(only_pots)) == {"Pot", "Potpending"}

        # Release all the honeypot caught: the confirmed one counts now, the other will.
        form = {"_csrf_token": csrf_of(page), "rule": "honeypot"}
        assert (await browser.post(f"{base}/release", data=form)).status_code == 303
        assert await displayed_count(browser, SLUG) == 2
        await confirm(browser, smtp, "Potpending")
        assert await displayed_count(browser, SLUG) == 3
        page = await browser.get(base)
        assert by_rule(page) == {"too_fast": 2}

        # Invalidate a ticked one: a reason is required.
        fast = ticks(page)["Fast"]
        no_reason = {"_csrf_token": csrf_of(page), "id": fast, "reason": ""}
        assert (await browser.post(f"{base}/invalidate", data=no_reason)).status_code == 400
        form = {"_csrf_token": csrf_of(page), "id": fast, "reason": "robot évident"}
        assert (await browser.post(f"{base}/invalidate", data=form)).status_code == 303
        page = await browser.get(base)
        assert set(ticks(page)) == {"Faster"}
        assert by_rule(page) == {"too_fast": 1}

        # Release a ticked one.
        form = {"_csrf_token": csrf_of(page), "id": ticks(page)["Faster"]}
        assert (await browser.post(f"{base}/release", data=form)).status_code == 303
        page = await browser.get(base)
        assert by_rule(page) == {} and ticks(page) == {}
        assert await displayed_count(browser, SLUG) == 4

    found = await states(sessions)
    assert found == {
        "Honest": (CONFIRMED, None),
        "Pot": (CONFIRMED, None),
        "Potpending": (CONFIRMED, None),
        "Fast": (SignatureStatus.INVALIDATED, "too_fast"),
        "Faster": (CONFIRMED, None),
    }
    async with sessions() as session:
        reason = await session.scalar(
            select(Signature.invalidation_reason).where(Signature.last_name == "Fast")
        )
    assert reason == "robot évident"


@pytest.mark.usefixtures("organisers")
async def test_organisers_invalidate_all_that_one_rule_caught(
    settings: Settings, clock: FakeClock, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        await send_js(browser, clock, person("Honest"))
        for name in ("Pot", "Potpending"):
            await send_js(browser, clock, person(name), changes={"website": "x"})
        await send_js(browser, clock, person("Fast"), pause=0)
        await confirm(browser, smtp, "Honest", "Pot", "Fast")
        await login(browser, EDITOR, PASSWORD)
        base = f"/dashboard/c/{SLUG}/quarantine"
        page = await browser.get(base, params={"rule": "honeypot"})
        form = {"_csrf_token": csrf_of(page), "rule": "honeypot", "reason": "pot de miel"}
        assert (await browser.post(f"{base}/invalidate", data=form)).status_code == 303
        page = await browser.get(base)
        assert by_rule(page) == {"too_fast": 1}
        assert set(ticks(page)) == {"Fast"}
        # The pending one, invalidated, is not counted when its signer confirms later.
        await confirm(browser, smtp, "Potpending")
        assert await displayed_count(browser, SLUG) == 1
    found = await states(sessions)
    assert found["Pot"] == found["Potpending"] == (SignatureStatus.INVALIDATED, "honeypot")


@pytest.mark.usefixtures("organisers")
async def test_only_the_campaign_s_editors_see_and_act_on_the_quarantine(
    settings: Settings, clock: FakeClock, smtp: SmtpSink, sessions: SessionFactory
) -> None:
    async with serve(realistic(settings), clock) as server:
        async with server.client() as signer_browser:
            await send_js(signer_browser, clock, person("Pot"), changes={"website": "x"})
            await confirm(signer_browser, smtp, "Pot")
        base = f"/dashboard/c/{SLUG}/quarantine"
        for email, expected in ((VIEWER, 403), (STRANGER, 404)):
            async with server.client() as browser:
                await login(browser, email, PASSWORD)
                assert (await browser.get(base)).status_code == expected
                token = csrf_of(await browser.get("/organiser/login"))
                for action in ("release", "invalidate"):
                    form = {"_csrf_token": token, "rule": "honeypot", "reason": "x"}
                    posted = await browser.post(f"{base}/{action}", data=form)
                    assert posted.status_code == expected
        async with server.client() as editor:
            await login(editor, EDITOR, PASSWORD)
            forged = await editor.post(f"{base}/release", data={"rule": "honeypot"})
            assert forged.status_code == 403  # no CSRF token
            assert by_rule(await editor.get(base)) == {"honeypot": 1}
            assert await displayed_count(editor, SLUG) == 0
    assert await states(sessions) == {"Pot": (QUARANTINED, "honeypot")}


async def test_the_spike_view_compares_the_last_day_with_the_day_before(
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
    campaign: Campaign,
    password_hash: str,
) -> None:
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.EDITOR,
        email=EDITOR, name="editrice", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    now = clock()
    fired = [
        ("burst", now - timedelta(hours=1), 12),  # spiking: at least 10, and 3 times before
        ("burst", now - timedelta(hours=30), 2),
        ("honeypot", now - timedelta(hours=2), 12),  # not: as many the day before
        ("honeypot", now - timedelta(hours=25), 6),
        ("too_fast", now - timedelta(hours=3), 3),  # not: a handful
        ("form_stamp", now - timedelta(days=3), 50),  # too old to be shown
    ]
    async with sessions() as session, session.begin():
        for rule, at, n in fired:
            for _ in range(n):
                await quarantine.record_signal(session, campaign.id, rule, at)
    pending = SignatureStatus.PENDING
    for n in range(10):
        await factories.signature(
            sessions, campaign, status=pending, at=now - timedelta(minutes=n),
            first_name=f"Bot{n}", email=f"bot{n}@spam.example",
        )  # fmt: skip
    await factories.signature(
        sessions, campaign, status=pending, at=now - timedelta(hours=26), email="ada@chu.fr"
    )
    async with serve(realistic(settings), clock) as server, server.client() as browser:
        await login(browser, EDITOR, PASSWORD)
        page = await browser.get(f"/dashboard/c/{SLUG}/quarantine")
    assert spikes(page, "spike") == {
        "burst": (12, 2, True),
        "honeypot": (12, 6, False),
        "too_fast": (3, 0, False),
    }
    assert spikes(page, "domain") == {"spam.example": (10, 0, True), "chu.fr": (0, 1, False)}


# Submissions that arrive together
TOGETHER = {"burst_limit": 100, "sustained_limit": 100, "nojs_burst_limit": 100}


async def send_together(
    browser: httpx.AsyncClient, clock: FakeClock, forms: list[dict[str, str]]
) -> list[httpx.Response]:
    """Open the form once, fill it in as several people at once, send them all together."""
    page = await browser.get(f"/c/{SLUG}")
    clock.advance(seconds=PAUSE)
    hidden = hidden_fields(page)
    return await asyncio.gather(
        *(browser.post(f"/c/{SLUG}", data={**hidden, **form}) for form in forms)
    )


# A statement that writes many signings' rows: arrays on PostgreSQL, rows of VALUES on SQLite.
BULK = {"postgresql": "unnest(", "sqlite": "), ("}


async def test_signings_that_arrive_together_are_each_recorded_as_alone(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    campaign: Campaign,
) -> None:
    """One writer lane, so that they share a batch: new signers, one who signed already, one
    proof of work sent twice, one address sent twice, a trap, a form without JavaScript."""
    site = realistic(settings, write_lanes=1, **TOGETHER)
    async with serve(site, clock) as server, server.client() as browser:
        spent = await solve(browser)
        thanks(await send(browser, clock, person("Known"), work=spent))
        await confirm(browser, smtp, "Known")
        shared = await solve(browser)
        forms = [person(f"New{n}") | {"altcha": await solve(browser)} for n in range(6)]
        forms += [
            person("Known") | {"altcha": await solve(browser)},
            person("Twice") | {"altcha": shared},
            person("Replay") | {"altcha": shared},
            person("Late") | {"altcha": spent},  # spent in an earlier batch
            person("Double") | {"altcha": await solve(browser)},
            person("Double") | {"altcha": await solve(browser)},
            person("Trap") | {"altcha": await solve(browser), "website": "http://spam.example"},
            person("Plain"),
        ]
        engine = server.services.engine
        with executed(engine, BULK[engine.dialect.name], "INSERT INTO signatures") as bulk:
            answers = await send_together(browser, clock, forms)
        assert {answer(a) for a in answers} == {answer(answers[0])}
        thanks(answers[0])
        for name, count in [("Known", 2), ("Double", 2)] + [(f"New{n}", 1) for n in range(6)]:
            await mail_to(smtp, email_of(name), count)
        for name in ("Twice", "Replay", "Late", "Trap", "Plain"):
            await mail_to(smtp, email_of(name))
        already = smtp.to(email_of("Known"))[-1]
        assert "/confirm/" not in str(already.get_body(("plain",)))  # signed already
        assert await displayed_count(browser, SLUG) == 1
    found = await states(sessions)
    held = {found.pop("Twice")[1], found.pop("Replay")[1]}
    assert held == {None, "pow_replayed"}  # the proof counted once; the other sender is held
    assert found == {
        **{f"New{n}": (PENDING, None) for n in range(6)},
        "Known": (CONFIRMED, None),
        "Late": (PENDING, "pow_replayed"),
        "Double": (PENDING, None),
        "Trap": (PENDING, "honeypot"),
        "Plain": (PENDING, None),
    }
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 13
    assert sorted(await signals(sessions)) == ["honeypot", "pow_replayed", "pow_replayed"]
    assert 0 < len(bulk) < len(forms) - 1  # those under no rule, in fewer statements


REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON signatures WHEN NEW.last_name = 'Refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.last_name = 'Refused' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON signatures FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
UNREFUSE = {"sqlite": "DROP TRIGGER refuse", "postgresql": "DROP FUNCTION refuse() CASCADE"}


@contextlib.asynccontextmanager
async def refusing(engine: AsyncEngine) -> AsyncIterator[None]:
    """The database refuses to store a signature of the name `Refused` (a trigger), while inside."""
    async with engine.begin() as connection:
        for statement in REFUSE[engine.dialect.name]:
            await connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(UNREFUSE[engine.dialect.name])


async def test_a_signing_the_database_refuses_in_a_batch_fails_alone(
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    engine: AsyncEngine,
    campaign: Campaign,
) -> None:
    """On PostgreSQL the batch's one statement fails, and the batch is done again each in its
    own savepoint: only the refused signer gets an error."""
    site = realistic(settings, write_lanes=1, **TOGETHER)
    names = [f"Fine{n}" for n in range(7)] + ["Refused"]
    async with serve(site, clock) as server, server.client() as browser, refusing(engine):
        forms = [person(name) | {"altcha": await solve(browser)} for name in names]
        answers = await send_together(browser, clock, forms)
        assert [a.status_code for a in answers] == [303] * 7 + [500]
        for name in names[:-1]:
            await mail_to(smtp, email_of(name))
    assert await states(sessions) == dict.fromkeys(names[:-1], (PENDING, None))
    assert smtp.to(email_of("Refused")) == []
