"""Signers' rights without an account: the same answer whatever the address, a mailed link to
see, change, withdraw and receive one's data, within a daily cap; and a privacy notice whose
every version stays readable, each signature naming the one it was given under."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from petition.db import SessionFactory
from petition.models import Campaign, Role, Signature, SignatureStatus
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
    sign,
    signer,
)
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
OTHER = "lettre-directeurs"
MARIE = "marie.curie@example.org"
PIERRE = "pierre.laroque@example.org"
PIERRE_FIELDS = {
    "first_name": "Pierre",
    "last_name": "Laroque",
    "role": "Infirmier",
    "organisation": "AP-HP",
    "publication": "name_role_org",
}
OWNER = "owner@collectif-sante.org"

# What legitimately differs from one answer to the next: the form protection values.
_VARYING = re.compile(r'(name="(?:_csrf_token|shown)" value=")[^"]*(")')
_IGNORED_HEADERS = {"set-cookie", "date"}
_OWN = re.compile(
    r'<section aria-labelledby="sig-(\d+)" class="own-signature">\s*'
    r'<h2 id="sig-\d+"><a href="/c/([a-z0-9-]+)">'
)

Answer = tuple[int, dict[str, str], str]


# --- What a person sees ----------------------------------------------------------------------


def _seen(response: httpx.Response) -> Answer:
    """Status, headers and page, without what differs between any two visits."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _IGNORED_HEADERS}
    return response.status_code, headers, _VARYING.sub(r"\1…\2", response.text)


def _assert_alike(answers: dict[str, Answer]) -> None:
    (first, reference), *others = answers.items()
    for state, answer in others:
        assert answer[0] == reference[0], f"status for {state} differs from {first}"
        assert answer[1] == reference[1], f"headers for {state} differ from {first}"
        assert answer[2] == reference[2], f"page for {state} differs from {first}"


async def _ask_for_link(server: LiveServer, address: str) -> tuple[Answer, Answer]:
    """A fresh browser fills /manage with the address: the 303, then the page it leads to."""
    async with server.client() as browser:
        page = await browser.get("/manage")
        assert page.status_code == 200
        answer = await browser.post("/manage", data={**hidden_fields(page), "email": address})
        assert answer.status_code == 303, answer.text
        shown = await browser.get(answer.headers["location"])
        return _seen(answer), _seen(shown)


async def _sign_afresh(server: LiveServer, address: str) -> tuple[Answer, Answer]:
    """A fresh browser signs with the address: the 303, then the page it leads to."""
    async with server.client() as browser:
        answer = await sign(browser, SLUG, signer(address))
        assert answer.status_code == 303, answer.text
        shown = await browser.get(answer.headers["location"])
        return _seen(answer), _seen(shown)


# --- What arrives in mailboxes ---------------------------------------------------------------


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()
    return content


def _kind(message: EmailMessage) -> str:
    if any(part.get_filename() for part in message.iter_attachments()):
        return "data"
    text = _text(message)
    if "/confirm/" in text:
        return "confirm"
    if "/manage/" in text:
        return "manage"
    if "/withdraw/" in text:
        return "already_signed"
    return "other"


def _kinds(smtp: SmtpSink, address: str) -> list[str]:
    return [_kind(message) for message in smtp.to(address)]


async def _mails_to(smtp: SmtpSink, address: str, count: int) -> list[EmailMessage]:
    """Wait until `address` has at least `count` mails; fail the test if they don't come."""
    for _ in range(200):
        found = smtp.to(address)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} mails to {address}, got {_kinds(smtp, address)}")


async def _all_delivered(server: LiveServer, smtp: SmtpSink, tag: str) -> None:
    """Queue one more mail and wait for it: mail leaves in the order it was queued, so any mail
    queued before it has arrived by then, and one not arrived was never queued."""
    address = f"temoin-{tag}@example.net"
    async with server.client() as browser:
        fields = signer(address, first_name="Témoin", last_name="Horloge")
        assert (await sign(browser, SLUG, fields)).status_code == 303
    await _mails_to(smtp, address, 1)


def _manage_path(message: EmailMessage) -> str:
    return link(message, "manage")


async def _confirmed(server: LiveServer, smtp: SmtpSink, address: str, **fields: str) -> None:
    """The address signs SLUG and presses the link of its confirmation mail."""
    async with server.client() as browser:
        already = len(smtp.to(address))
        assert (await sign(browser, SLUG, signer(address, **fields))).status_code == 303
        mail = (await _mails_to(smtp, address, already + 1))[-1]
        assert (await press(browser, link(mail, "confirm"))).status_code == 303


async def _api_count(browser: httpx.AsyncClient, slug: str, expected: int) -> int:
    """The public API's count, once it caught up with `expected` (it follows a live snapshot)."""
    count = -1
    for _ in range(100):
        count = int((await browser.get(f"/api/v1/campaigns/{slug}")).json()["campaign"]["count"])
        if count == expected:
            break
        await asyncio.sleep(0.05)
    return count


# --- 1. The same answer whatever the address -------------------------------------------------


ADDRESSES = {
    "new": "jamais.venue@example.org",
    "pending": "en.attente@example.org",
    "confirmed": "bien.comptee@example.org",
    "withdrawn": "deja.partie@example.org",
}


async def test_the_answer_is_the_same_whatever_the_address_only_its_mailbox_learns_more(
    campaign: Campaign, server: LiveServer, smtp: SmtpSink
) -> None:
    del campaign
    async with server.client() as browser:
        for state in ("pending", "confirmed", "withdrawn"):
            assert (await sign(browser, SLUG, signer(ADDRESSES[state]))).status_code == 303
        for state in ("confirmed", "withdrawn"):
            [mail] = await _mails_to(smtp, ADDRESSES[state], 1)
            assert (await press(browser, link(mail, "confirm"))).status_code == 303
        [mail] = smtp.to(ADDRESSES["withdrawn"])
        assert (await press(browser, link(mail, "withdraw"))).status_code == 303
        assert await displayed_count(browser, SLUG) == 1

    # Asking for a manage link.
    answers = {state: await _ask_for_link(server, address) for state, address in ADDRESSES.items()}
    _assert_alike({state: redirect for state, (redirect, _page) in answers.items()})
    _assert_alike({state: page for state, (_redirect, page) in answers.items()})
    redirect, page = answers["new"]
    assert redirect[1]["location"] == "/manage/sent" and page[0] == 200
    await _all_delivered(server, smtp, "manage")
    assert _kinds(smtp, ADDRESSES["new"]) == []
    assert _kinds(smtp, ADDRESSES["pending"]) == ["confirm", "manage"]
    assert _kinds(smtp, ADDRESSES["confirmed"]) == ["confirm", "manage"]
    assert _kinds(smtp, ADDRESSES["withdrawn"]) == ["confirm"]  # its fingerprint is erased

    # Signing.
    answers = {state: await _sign_afresh(server, address) for state, address in ADDRESSES.items()}
    _assert_alike({state: redirect for state, (redirect, _page) in answers.items()})
    _assert_alike({state: page for state, (_redirect, page) in answers.items()})
    redirect, page = answers["new"]
    assert redirect[1]["location"] == f"/c/{SLUG}/thanks" and page[0] == 200
    await _all_delivered(server, smtp, "signing")
    assert _kinds(smtp, ADDRESSES["new"]) == ["confirm"]
    assert _kinds(smtp, ADDRESSES["pending"]) == ["confirm", "manage", "confirm"]
    assert _kinds(smtp, ADDRESSES["confirmed"]) == ["confirm", "manage", "already_signed"]
    # Withdrawing erased what recognised the address: it may sign again, as anyone new.
    assert _kinds(smtp, ADDRESSES["withdrawn"]) == ["confirm", "confirm"]
    async with server.client() as browser:
        assert await displayed_count(browser, SLUG) == 1


# --- 2. The daily cap per address ------------------------------------------------------------


async def test_manage_links_to_one_address_stop_at_the_daily_cap_then_resume_the_next_day(
    campaign: Campaign, server: LiveServer, smtp: SmtpSink, clock: FakeClock, settings: Settings
) -> None:
    del campaign
    cap = settings.mail_per_address_per_day
    await _confirmed(server, smtp, MARIE)  # one mail of today's cap already

    answers = [await _ask_for_link(server, MARIE) for _ in range(cap + 2)]
    _assert_alike({f"request {n}": redirect for n, (redirect, _page) in enumerate(answers)})
    _assert_alike({f"request {n}": page for n, (_redirect, page) in enumerate(answers)})
    await _all_delivered(server, smtp, "capped")
    assert _kinds(smtp, MARIE) == ["confirm"] + ["manage"] * (cap - 1)

    clock.advance(hours=24, minutes=1)
    assert await _ask_for_link(server, MARIE) == answers[0]
    mails = await _mails_to(smtp, MARIE, cap + 1)
    await _all_delivered(server, smtp, "next-day")
    assert [_kind(m) for m in smtp.to(MARIE)] == [_kind(m) for m in mails]  # one, no more
    assert _kind(mails[-1]) == "manage"
    async with server.client() as browser:
        own = await browser.get(_manage_path(mails[-1]))
        assert own.status_code == 200 and "Marie Curie" in own.text


# --- 3. The manage page: every campaign, publication, withdrawal, a copy of the data ---------


async def test_the_manage_link_shows_changes_withdraws_and_mails_a_copy_of_the_data(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    engine: AsyncEngine,
) -> None:
    del campaign
    await make_campaign(sessions, clock, slug=OTHER)
    async with serve(settings, clock) as server:
        async with server.client() as browser:
            for slug in (SLUG, OTHER):
                fields = signer(MARIE, publication="name_role_org")
                assert (await sign(browser, slug, fields)).status_code == 303
            for mail in await _mails_to(smtp, MARIE, 2):
                assert (await press(browser, link(mail, "confirm"))).status_code == 303
        await _confirmed(server, smtp, PIERRE, **PIERRE_FIELDS)

        clock.advance(hours=25)  # the next day: signing used up most of yesterday's mails
        await _ask_for_link(server, MARIE)
        manage_mail = (await _mails_to(smtp, MARIE, 3))[-1]
        assert _kind(manage_mail) == "manage"
        own = _manage_path(manage_mail)

        async with server.client() as holder:
            page = await holder.get(own)
            assert page.status_code == 200
            assert page.headers["cache-control"] == "no-store"
            mine = {slug: int(ident) for ident, slug in _OWN.findall(page.text)}
            assert set(mine) == {SLUG, OTHER}
            assert "Marie Curie" in page.text and "CHU de Lyon" in page.text
            assert "Laroque" not in page.text and "AP-HP" not in page.text
            listed = await holder.get(f"/c/{SLUG}/signatories")
            assert "Marie Curie" in listed.text and "CHU de Lyon" in listed.text

            # Publication: only the name, then nothing at all.
            token = csrf_of(page)
            changed = await holder.post(
                f"{own}/{mine[SLUG]}/publication",
                data={"_csrf_token": token, "publication": "name"},
            )
            assert changed.status_code == 303
            saved = await holder.get(changed.headers["location"])
            assert (
                f'id="pub-{mine[SLUG]}-name" name="publication" value="name" checked' in saved.text
            )
            listed = await holder.get(f"/c/{SLUG}/signatories")
            assert "Marie Curie" in listed.text and "Pierre Laroque" in listed.text
            assert "CHU de Lyon" not in listed.text and "Médecin DIM" not in listed.text
            elsewhere = await holder.get(f"/c/{OTHER}/signatories")
            assert "CHU de Lyon" in elsewhere.text  # the other signature keeps its own choice
            hidden = await holder.post(
                f"{own}/{mine[SLUG]}/publication",
                data={"_csrf_token": token, "publication": "none"},
            )
            assert hidden.status_code == 303
            listed = await holder.get(f"/c/{SLUG}/signatories")
            assert "Curie" not in listed.text and "Pierre Laroque" in listed.text
            assert await displayed_count(holder, SLUG) == 2  # still counted

            # A copy of the data: only to the address the link was sent to, never on screen.
            requests: dict[str, tuple[Answer, Answer]] = {}
            for name, address in (("wrong", PIERRE), ("right", MARIE)):
                asked = await holder.post(
                    f"{own}/data", data={"_csrf_token": token, "email": address}
                )
                assert asked.status_code == 303
                requests[name] = (_seen(asked), _seen(await holder.get(asked.headers["location"])))
            _assert_alike({name: redirect for name, (redirect, _page) in requests.items()})
            _assert_alike({name: shown for name, (_redirect, shown) in requests.items()})
            for _redirect, shown in requests.values():
                assert "notice_version" not in shown[2] and "my-signatures" not in shown[2]
                assert "Pierre" not in shown[2]
            data_mail = (await _mails_to(smtp, MARIE, 4))[-1]
            await _all_delivered(server, smtp, "data")
            assert _kinds(smtp, PIERRE) == ["confirm"]
            assert _kinds(smtp, MARIE) == ["confirm", "confirm", "manage", "data"]
            [attachment] = list(data_mail.iter_attachments())
            assert attachment.get_filename() == "my-signatures.json"
            # Checked last, so that everything after it is checked too (see the end).
            data_type = attachment.get_content_type()
            document: dict[str, Any] = json.loads(attachment.get_content())
            entries = {entry["campaign"]["slug"]: entry for entry in document["signatures"]}
            assert set(entries) == {SLUG, OTHER}
            for slug, entry in entries.items():
                assert (entry["first_name"], entry["last_name"]) == ("Marie", "Curie")
                assert entry["organisation"] == "CHU de Lyon"
                assert entry["status"] == "confirmed"
                assert entry["consent"]["notice_version"] == "notice-1"
                assert entry["publication"] == ("none" if slug == SLUG else "name_role_org")
            assert MARIE not in attachment.get_content().decode()  # only a fingerprint is kept

            # Withdrawal: uncounted at once, its data erased.
            gone = await holder.post(f"{own}/{mine[SLUG]}/withdraw", data={"_csrf_token": token})
            assert gone.status_code == 303
            after = await holder.get(gone.headers["location"])
            assert after.status_code == 200
            assert {slug for _ident, slug in _OWN.findall(after.text)} == {OTHER}
            assert await displayed_count(holder, SLUG) == 1
            assert await _api_count(holder, SLUG, 1) == 1
            assert await displayed_count(holder, OTHER) == 1

    async with engine.connect() as connection:
        row = (await connection.execute(select(Signature).where(Signature.id == mine[SLUG]))).one()
        assert row.status is SignatureStatus.WITHDRAWN
        assert (row.first_name, row.last_name, row.role, row.organisation) == (None,) * 4
        assert row.email_hash is None and row.email_domain is None
        names = (
            await connection.execute(
                select(Signature.last_name)
                .join(Campaign, Signature.campaign_id == Campaign.id)
                .where(Campaign.slug == SLUG)
            )
        ).scalars()
        assert "Curie" not in set(names)
    assert data_type == "application/json", "a mail client opens the data as a PDF"


# --- 4. The privacy notice and its versions --------------------------------------------------


class _FormFields(HTMLParser):
    """What a browser submits of a form as shown: inputs, checked choices, text areas."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        name = found.get("name")
        if tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "input" and name:
            if found.get("type") in ("radio", "checkbox") and "checked" not in found:
                return
            self.fields[name] = found.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def _form_fields(page: httpx.Response) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(page.text)
    return parser.fields


def _words(page: httpx.Response) -> str:
    """The page's text with French typography's no-break spaces (before a colon) as spaces."""
    return page.text.replace("\u00a0", " ").replace("\u202f", " ")


async def _consents(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(Signature.last_name, Signature.consent_version))
        return {str(last_name): str(version) for last_name, version in rows}


async def test_the_privacy_notice_states_the_configured_facts_and_keeps_every_version(
    campaign: Campaign,
    settings: Settings,
    clock: FakeClock,
    smtp: SmtpSink,
    sessions: SessionFactory,
    engine: AsyncEngine,
    password_hash: str,
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(controller="Association Santé Libre", privacy_contact="dpo@sante-libre.org")
        )
    await factories.organiser_with_role(
        sessions, settings.load_secret_key(), campaign, Role.OWNER,
        email=OWNER, name="owner", password_hash=password_hash, now=clock(),
    )  # fmt: skip
    configured = dataclasses.replace(
        settings, unconfirmed_days=5, anonymise_after_days=90, signals_days=12
    )
    async with serve(configured, clock) as server:
        async with server.client() as french, server.client() as english:
            fr = await french.get(f"/c/{SLUG}/privacy")
            en = await english.get(f"/c/{SLUG}/privacy?lang=en")
        assert fr.status_code == en.status_code == 200
        assert '<html lang="fr">' in fr.text and '<html lang="en">' in en.text
        for page in (fr, en):
            assert "Association Santé Libre" in page.text and "dpo@sante-libre.org" in page.text
            assert "Version 1," in page.text
        assert "Responsable du traitement : Association Santé Libre" in _words(fr)
        assert "Contact pour la protection des données : dpo@sante-libre.org" in _words(fr)
        assert "Une signature non confirmée est supprimée 5 jours après son dépôt." in fr.text
        assert "90 jours après la clôture de la campagne" in fr.text
        assert "supprimées au bout de 12 jours" in fr.text
        assert "Controller: Association Santé Libre" in en.text
        assert "Data-protection contact: dpo@sante-libre.org" in en.text
        assert "An unconfirmed signature is deleted 5 days after it was made." in en.text
        assert "90 days after the campaign closes" in en.text
        assert "deleted after 12 days" in en.text
        assert "plus en vigueur" not in fr.text
        assert "no longer in force" not in en.text

        async with server.client() as browser:
            assert (await sign(browser, SLUG, signer(MARIE))).status_code == 303
        assert (await _consents(engine))["Curie"] == "notice-1"

        clock.advance(days=2)
        async with server.client() as organiser:
            await login(organiser, OWNER, PASSWORD)
            form = await organiser.get(f"/dashboard/c/{SLUG}/edit")
            assert form.status_code == 200
            fields = _form_fields(form)
            assert fields["controller"] == "Association Santé Libre"
            fields["controller"] = "Collectif Données de Santé"
            saved = await organiser.post(f"/dashboard/c/{SLUG}/edit", data=fields)
            assert saved.status_code == 303, saved.text

        async with server.client() as english:
            latest = await english.get(f"/c/{SLUG}/privacy?lang=en")
            first = await english.get(f"/c/{SLUG}/privacy/1")
            second = await english.get(f"/c/{SLUG}/privacy/2")
            missing = await english.get(f"/c/{SLUG}/privacy/3")
        assert latest.status_code == first.status_code == second.status_code == 200
        assert missing.status_code == 404
        for current in (latest, second):
            assert "Version 2," in current.text
            assert "Collectif Données de Santé" in current.text
            assert "Association Santé Libre" not in current.text
            assert "no longer in force" not in current.text
            assert "dpo@sante-libre.org" in current.text
        assert "Version 1," in first.text and "Association Santé Libre" in first.text
        assert "Collectif Données de Santé" not in first.text
        assert "This version is no longer in force." in first.text
        assert f'<a href="/c/{SLUG}/privacy">' in first.text
        async with server.client() as french:
            first_fr = await french.get(f"/c/{SLUG}/privacy/1")
            latest_fr = await french.get(f"/c/{SLUG}/privacy")
        assert "Cette version n’est plus en vigueur." in first_fr.text
        assert "Association Santé Libre" in first_fr.text
        assert "Version 2," in latest_fr.text and "plus en vigueur" not in latest_fr.text
        assert "Responsable du traitement : Collectif Données de Santé" in _words(latest_fr)

        async with server.client() as browser:
            assert (await sign(browser, SLUG, signer(PIERRE, **PIERRE_FIELDS))).status_code == 303
        assert await _consents(engine) == {"Curie": "notice-1", "Laroque": "notice-2"}
        await _mails_to(smtp, PIERRE, 1)


# --- 5. An expired link ----------------------------------------------------------------------


async def test_an_expired_manage_link_shows_nothing_and_changes_nothing(
    campaign: Campaign,
    server: LiveServer,
    smtp: SmtpSink,
    clock: FakeClock,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    del campaign
    await _confirmed(server, smtp, MARIE)
    await _ask_for_link(server, MARIE)
    own = _manage_path((await _mails_to(smtp, MARIE, 2))[-1])

    async with server.client() as holder:
        clock.advance(hours=settings.manage_link_hours, minutes=-1)
        page = await holder.get(own)
        assert page.status_code == 200 and "Marie Curie" in page.text
        [(ident, _slug)] = _OWN.findall(page.text)
        token = csrf_of(page)

        clock.advance(minutes=2)
        expired = await holder.get(own)
        assert expired.status_code == 410
        assert expired.headers["cache-control"] == "no-store"
        for personal in ("Marie", "Curie", "CHU de Lyon", "Médecin DIM", "example.org"):
            assert personal not in expired.text
        assert 'href="/manage"' in expired.text  # where to ask for a new one
        for action, fields in (
            (f"{ident}/withdraw", {}),
            (f"{ident}/publication", {"publication": "none"}),
            ("data", {"email": MARIE}),
        ):
            refused = await holder.post(f"{own}/{action}", data={"_csrf_token": token, **fields})
            assert refused.status_code == 410, action
            assert "Curie" not in refused.text
        unknown = await holder.get("/manage/" + "A" * 43)
        assert unknown.status_code == 404 and "Curie" not in unknown.text
        assert await displayed_count(holder, SLUG) == 1

    await _all_delivered(server, smtp, "expired")
    assert _kinds(smtp, MARIE) == ["confirm", "manage"]
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(Signature).where(Signature.last_name == "Curie"))
        ).one()
    assert row.status is SignatureStatus.CONFIRMED
    assert (row.first_name, row.last_name, row.organisation) == ("Marie", "Curie", "CHU de Lyon")
    assert row.publication.value == "none"
