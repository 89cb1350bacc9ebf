"""What the public sees of signers, and what other sites may show of a campaign.

Signers choose what is published: nothing, their name, name and role, or name, role and
organisation. Nothing beyond that choice may show anywhere: signatories page and API,
breakdowns, widget, badge. Pending, withdrawn and invalidated signatures never show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from petition import counts
from petition.db import SessionFactory
from petition.models import Campaign, Publication, Signature, SignatureStatus
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import link, press, sign, signer
from tests.support.public import api, api_count, campaign_on, eventually, meta, signatures, tags
from tests.support.server import LiveServer, serve
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
BASE = "http://petition.test"
NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)  # Paris is UTC+1 until 31 March
NNBSP = "\u202f"  # French thousands separator
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Breakdowns computed afresh on every request, so they can be watched changing."""
    return dataclasses.replace(settings, breakdown_seconds=0)


# --- Publication choices -------------------------------------------------------------------

# (first, last, role, organisation, publication sent; None: the field left out)
ADA = ("Ada", "Lovelace", "Médecin DIM", "CHU de Lyon", "name_role_org")
BRUNO = ("Bruno", "Bertin", "médecin  dim", "Clinique Secrète", "name_role")
CHLOE = ("Chloé", "Caron", "Pharmacienne Cachée", "Hôpital Caché", "name")
DENIS = ("Denis", "Xanthos", "Directeur Masqué", "Ministère Masqué", "none")
EMILE = ("Émile", "Yrieix", "Archiviste Voilée", "Musée Voilé", None)
FANNY = ("Fanny", "Wolkow", "Médecin DIM", "CHU de Lyon", "name_role_org")  # withdraws
GASTON = ("Gaston", "Zorglub", "Médecin DIM", "CHU de Lyon", "name_role_org")  # never confirms
NEVER_SHOWN = [
    "Clinique Secrète",  # Bruno's organisation: he published his role only
    "Pharmacienne Cachée", "Hôpital Caché",  # Chloé published her name only
    *DENIS[:4], *EMILE[:4],  # published nothing
    "Gaston", "Zorglub",  # pending
]  # fmt: skip


def _fields(person: tuple[str, str, str, str, str | None]) -> dict[str, str]:
    first, last, role, organisation, publication = person
    email = f"{last.lower()}@example.org"
    fields = signer(email, first_name=first, last_name=last, role=role, organisation=organisation)
    if publication is not None:
        fields["publication"] = publication
    return fields


async def _everything_public(reader: httpx.AsyncClient) -> dict[str, str]:
    """Every public answer that could show a signer, as text."""
    paths = [
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{SLUG}",
        f"/api/v1/campaigns/{SLUG}/signatories",
        f"/c/{SLUG}/signatories",
        f"/c/{SLUG}/signatories?lang=en",
        f"/c/{SLUG}",
        f"/c/{SLUG}/widget",
        f"/c/{SLUG}/badge.svg",
        "/",
    ]
    shown = {}
    for path in paths:
        answer = await reader.get(path)
        assert answer.status_code == 200, path
        text = answer.text
        if answer.headers["content-type"].startswith("application/json"):
            text = json.dumps(answer.json(), ensure_ascii=False)  # no \u escapes hiding names
        shown[path] = text
    return shown


def _names_on_page(page: str) -> list[str]:
    return re.findall(r'<span class="name">([^<]*)</span>', page)


@pytest.mark.usefixtures("campaign")
async def test_only_what_each_signer_chose_is_ever_published(
    server: LiveServer, smtp: SmtpSink, clock: FakeClock
) -> None:
    people = [ADA, BRUNO, CHLOE, DENIS, EMILE, FANNY, GASTON]
    async with server.client() as browser, server.client() as reader:
        for person in people:
            assert (await sign(browser, SLUG, _fields(person))).status_code == 303
        mails = await smtp.wait_for(len(people))
        by_address = {m["To"]: m for m in mails}
        for _first, last, *_ in people[:-1]:  # Gaston never confirms
            clock.advance(minutes=1)
            mail = by_address[f"{last.lower()}@example.org"]
            assert (await press(browser, link(mail, "confirm"))).status_code == 303
        await eventually(lambda: api_count(reader, SLUG), lambda n: n == 6)

        listed = await api(reader, f"/api/v1/campaigns/{SLUG}/signatories")
        assert [(s["first_name"], s["last_name"]) for s in listed["signatories"]] == [
            ("Fanny", "Wolkow"),
            ("Chloé", "Caron"),
            ("Bruno", "Bertin"),
            ("Ada", "Lovelace"),
        ]
        # Fanny leaves: her name goes at once, her signature from the count within a second.
        clock.advance(minutes=1)
        withdrawn = await press(browser, link(by_address["wolkow@example.org"], "withdraw"))
        assert withdrawn.status_code == 303
        await eventually(lambda: api_count(reader, SLUG), lambda n: n == 5)

        listed = await api(reader, f"/api/v1/campaigns/{SLUG}/signatories")
        assert listed == {
            "signatories": [
                {"first_name": "Chloé", "last_name": "Caron", "role": None,
                 "organisation": None, "signed_on": "2030-03-01"},
                {"first_name": "Bruno", "last_name": "Bertin", "role": "médecin  dim",
                 "organisation": None, "signed_on": "2030-03-01"},
                {"first_name": "Ada", "last_name": "Lovelace", "role": "Médecin DIM",
                 "organisation": "CHU de Lyon", "signed_on": "2030-03-01"},
            ],
            "next": None,
        }  # fmt: skip

        detail = await api(reader, f"/api/v1/campaigns/{SLUG}")
        assert detail["breakdown"] == {
            "published": 3,  # Ada, Bruno, Chloé
            "by_role": [{"role": "Médecin DIM", "count": 2}],  # Ada and Bruno, one spelling
            "other_roles": 0,
            "by_organisation": [{"organisation": "CHU de Lyon", "count": 1}],  # Ada only
            "other_organisations": 0,
        }

        page = await reader.get(f"/c/{SLUG}/signatories", params={"lang": "en"})
        assert _names_on_page(page.text) == ["Chloé Caron", "Bruno Bertin", "Ada Lovelace"]
        assert "5 confirmed signatures in all" in page.text
        assert page.text.count('class="organisation"') == 1
        assert page.text.count('class="role"') == 2

        shown = await _everything_public(reader)
        for path, text in shown.items():
            leaked = [word for word in [*NEVER_SHOWN, "Fanny", "Wolkow"] if word in text]
            assert leaked == [], f"{path} shows {leaked}"


@pytest.mark.usefixtures("campaign")
async def test_an_unknown_publication_choice_is_refused(
    server: LiveServer, sessions: SessionFactory
) -> None:
    async with server.client() as browser:
        await browser.get(f"/c/{SLUG}", params={"lang": "en"})
        answer = await sign(browser, SLUG, {**_fields(ADA), "publication": "everything"})
        assert answer.status_code == 422
        assert "Please choose one of the options offered." in answer.text
        assert "Your signature was not recorded" in answer.text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Signature)) == 0


# --- Pagination ----------------------------------------------------------------------------

PUBLISHED = 110  # three pages: 50, 50 and 10
BASE_INSTANT = datetime(2030, 2, 27, 9, 30, 15, 123457, tzinfo=UTC)


def _instant(k: int) -> datetime:
    """The confirmation of the k-th newest published signature; k=49 and 50, and k=99 and 100
    are at the same instant, on either side of a page boundary."""
    tied = {50: 49, 100: 99}
    return BASE_INSTANT - timedelta(seconds=tied.get(k, k))


@pytest.fixture
async def many(sessions: SessionFactory, campaign: Campaign) -> list[str]:
    """110 published signatures among others that must not show; their names, newest first."""
    rows: list[tuple[str, str, Publication, SignatureStatus, datetime]] = []
    confirmed = SignatureStatus.CONFIRMED
    choices = [Publication.NAME, Publication.NAME_ROLE, Publication.NAME_ROLE_ORG]
    for k in reversed(range(PUBLISHED)):  # oldest first, as people sign: newer ids are higher
        at = _instant(k)
        rows.append((f"Prénom{k:03d}", "Public", choices[k % 3], confirmed, at))
        if k % 10 == 0:  # at the same instants, signatures that must never show
            rows.append((f"Anonyme{k:03d}", "Cache", Publication.NONE, confirmed, at))
            rows.append((f"Attente{k:03d}", "Cache", Publication.NAME, SignatureStatus.PENDING, at))
            rows.append(
                (f"Retire{k:03d}", "Cache", Publication.NAME, SignatureStatus.WITHDRAWN, at)
            )
            rows.append(
                (f"Annule{k:03d}", "Cache", Publication.NAME, SignatureStatus.INVALIDATED, at)
            )
    await signatures(sessions, campaign, rows)
    return [f"Prénom{k:03d} Public" for k in range(PUBLISHED)]


def _api_names(page: dict[str, list[dict[str, str]]]) -> list[str]:
    return [f"{s['first_name']} {s['last_name']}" for s in page["signatories"]]


async def test_the_signatories_api_pages_newest_first_without_gaps_or_repeats(
    many: list[str], server: LiveServer
) -> None:
    async with server.client() as reader:
        pages = []
        path = f"/api/v1/campaigns/{SLUG}/signatories"
        while True:
            answer = await reader.get(path)
            assert answer.status_code == 200
            page = answer.json()
            pages.append(_api_names(page))
            if page["next"] is None:
                break
            assert page["next"].startswith(f"{BASE}/api/v1/campaigns/{SLUG}/signatories?cursor=")
            parts = urlsplit(page["next"])
            path = f"{parts.path}?{parts.query}"
            assert len(pages) < 5, "the pages never end"
        assert [len(p) for p in pages] == [50, 50, 10]
        assert [name for p in pages for name in p] == many
        counted = await api_count(reader, SLUG)
        assert counted == PUBLISHED + PUBLISHED // 10  # the anonymous ones count too


async def test_the_signatories_page_leads_to_earlier_ones(
    many: list[str], server: LiveServer
) -> None:
    async with server.client() as visitor:
        answer = await visitor.get(f"/c/{SLUG}/signatories", params={"lang": "en"})
        seen: list[str] = []
        for _ in range(5):
            assert answer.status_code == 200
            seen += _names_on_page(answer.text)
            earlier = [a for a in tags(answer.text, "a") if a.get("rel") == "next"]
            if not earlier:
                break
            assert "Earlier signatories" in answer.text
            href = earlier[0]["href"]
            assert href is not None and href.startswith(f"/c/{SLUG}/signatories?cursor=")
            answer = await visitor.get(href)
            assert 'href="/c/mission-sante/signatories">Newest signatories' in answer.text
        assert seen == many
        assert not any("Cache" in name for name in seen)


async def test_a_malformed_cursor_gives_the_first_page(many: list[str], server: LiveServer) -> None:
    malformed = [
        "abc",
        "-",
        "12-",
        "-12",
        "1.5-3",
        "12-3-4",
        "99999999999999999999-1",  # digits, but no instant a calendar can hold
    ]
    async with server.client() as reader:
        first_api = await reader.get(f"/api/v1/campaigns/{SLUG}/signatories")
        first_page = await reader.get(f"/c/{SLUG}/signatories")
        problems = {}
        for cursor in malformed:
            answer = await reader.get(
                f"/api/v1/campaigns/{SLUG}/signatories", params={"cursor": cursor}
            )
            if answer.status_code != 200 or answer.json() != first_api.json():
                problems[f"api {cursor}"] = answer.status_code
            page = await reader.get(f"/c/{SLUG}/signatories", params={"cursor": cursor})
            if page.status_code != 200 or _names_on_page(page.text) != _names_on_page(
                first_page.text
            ):
                problems[f"page {cursor}"] = page.status_code
        assert problems == {}
        assert _api_names(first_api.json()) == many[:50]


# --- Widget, badge, framing ----------------------------------------------------------------


@pytest.fixture
async def counted(sessions: SessionFactory, clock: FakeClock, campaign: Campaign) -> None:
    """`mission-sante` at 1234 signatures (goal 1000); a letter without goal; a closed one."""
    async with sessions() as session, session.begin():
        await counts.add(session, campaign.id, 1234)
    await campaign_on(sessions, clock, "sans-objectif", goal=None)
    await campaign_on(sessions, clock, "deja-close", closes=date(2030, 2, 20))


@pytest.mark.usefixtures("counted")
async def test_only_the_widget_may_be_framed_by_other_sites(server: LiveServer) -> None:
    framed_elsewhere = [
        "/",
        f"/c/{SLUG}",
        f"/c/{SLUG}/signatories",
        f"/c/{SLUG}/badge.svg",
        f"/api/v1/campaigns/{SLUG}",
        "/api/v1/openapi.json",
        "/organiser/login",
        "/c/inconnue",
    ]
    async with server.client() as visitor:
        widget = await visitor.get(f"/c/{SLUG}/widget")
        assert widget.status_code == 200
        assert directives(widget)["frame-ancestors"] == "*"
        assert directives(widget)["script-src"] == "'self'"
        assert "x-frame-options" not in widget.headers
        assert widget.headers["x-content-type-options"] == "nosniff"
        for path in framed_elsewhere:
            answer = await visitor.get(path)
            assert directives(answer)["frame-ancestors"] == "'none'", path
            assert answer.headers["x-frame-options"] == "DENY", path
            assert answer.headers["x-content-type-options"] == "nosniff", path


@pytest.mark.usefixtures("counted")
async def test_the_widget_shows_the_count_progress_and_a_link_to_sign(server: LiveServer) -> None:
    async with server.client() as site:
        widget = await site.get(f"/c/{SLUG}/widget")
        assert widget.headers["content-type"].startswith("text/html")
        assert "set-cookie" not in widget.headers
        assert f"1{NNBSP}234" in widget.text
        [progress] = tags(widget.text, "progress")
        assert (progress["max"], progress["value"]) == ("1000", "1000")  # goal reached
        signing = [a for a in tags(widget.text, "a") if a.get("class") == "button"]
        assert [a["href"] for a in signing] == [f"{BASE}/c/{SLUG}"]
        assert signing[0]["target"] == "_blank"
        assert "noopener" in (signing[0]["rel"] or "")

        again = await site.get(
            f"/c/{SLUG}/widget", headers={"If-None-Match": widget.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""

        english = await site.get(f"/c/{SLUG}/widget", params={"lang": "en"})
        assert "1,234" in english.text and ">Sign<" in english.text
        assert "set-cookie" not in english.headers

        no_goal = await site.get("/c/sans-objectif/widget")
        assert no_goal.status_code == 200 and tags(no_goal.text, "progress") == []
        closed = await site.get("/c/deja-close/widget", params={"lang": "en"})
        assert "Signatures are closed." in closed.text
        assert not [a for a in tags(closed.text, "a") if a.get("class") == "button"]


@pytest.mark.usefixtures("counted")
async def test_the_badge_is_an_svg_with_the_formatted_count(server: LiveServer) -> None:
    async with server.client() as site:
        badge = await site.get(f"/c/{SLUG}/badge.svg")
        assert badge.status_code == 200
        assert badge.headers["content-type"].startswith("image/svg+xml")
        assert "set-cookie" not in badge.headers
        assert badge.headers["cache-control"].startswith("public, ")
        svg = ET.fromstring(badge.content)  # noqa: S314  # our own server's answer, under test
        assert svg.tag == f"{SVG}svg"
        assert (svg.get("role"), svg.get("aria-label")) == ("img", f"1{NNBSP}234 signatures")
        assert [t.text for t in svg.iter(f"{SVG}title")] == [f"1{NNBSP}234 signatures"]
        texts = [t.text for t in svg.iter(f"{SVG}text")]
        assert texts == ["signatures", f"1{NNBSP}234"]
        # The count stands on the site's accent (the default one here), in white.
        assert [r.get("fill") for r in svg.iter(f"{SVG}rect")] == ["#555", "#0b5cad"]

        same = await site.get(
            f"/c/{SLUG}/badge.svg", headers={"If-None-Match": badge.headers["etag"]}
        )
        assert same.status_code == 304 and same.content == b""
        assert same.headers["etag"] == badge.headers["etag"]

        english = await site.get(f"/c/{SLUG}/badge.svg", headers={"Accept-Language": "en-GB,en"})
        assert "1,234 signatures" in english.text
        assert english.headers["etag"] != badge.headers["etag"]
        assert "Accept-Language" in english.headers["vary"]

        none = await site.get("/c/sans-objectif/badge.svg", params={"lang": "en"})
        assert ">0<" in none.text and ">signatures<" in none.text


@pytest.mark.usefixtures("counted")
async def test_the_badge_and_the_widget_wear_the_organisations_accent(
    settings: Settings, clock: FakeClock
) -> None:
    """PETITION_SITE_ACCENT colours the badge's count and, through brand.css, the widget's bar
    and button; the widget styles itself, so that it sits in any site that frames it."""
    branded = dataclasses.replace(settings, site_accent="#7A1F5C")
    async with serve(branded, clock) as server, server.client() as site:
        badge = await site.get(f"/c/{SLUG}/badge.svg", params={"lang": "en"})
        svg = ET.fromstring(badge.content)  # noqa: S314  # our own server's answer, under test
        assert [r.get("fill") for r in svg.iter(f"{SVG}rect")] == ["#555", "#7a1f5c"]
        assert [t.text for t in svg.iter(f"{SVG}title")] == ["1,234 signatures"]
        assert svg.get("role") == "img"

        widget = await site.get(f"/c/{SLUG}/widget")
        sheets = [link["href"] or "" for link in tags(widget.text, "link")]
        assert [href.split(".")[0] for href in sheets] == ["/static/brand", "/static/widget"]
        styles = {href: await site.get(href) for href in sheets}
        assert all(answer.status_code == 200 for answer in styles.values())
        brand_css, widget_css = (answer.text for answer in styles.values())
        assert "--color-accent:#7a1f5c" in brand_css
        assert "body.widget" in widget_css and "var(--color-accent" in widget_css
        assert "prefers-color-scheme: dark" in widget_css
        # Without JavaScript the served page already holds the count, the bar and the button.
        assert f"1{NNBSP}234" in widget.text and len(tags(widget.text, "progress")) == 1
        assert [a["href"] for a in tags(widget.text, "a") if a.get("class") == "button"] == [
            f"{BASE}/c/{SLUG}"
        ]


# --- The campaign page -----------------------------------------------------------------------


@pytest.fixture
async def closing(sessions: SessionFactory, clock: FakeClock) -> Campaign:
    """A campaign with a goal of 500, 123 signatures, whose last day is Sunday 10 March."""
    campaign = await campaign_on(
        sessions, clock, "appel-soignants", title="Appel des soignants", closes=date(2030, 3, 10)
    )
    async with sessions() as session, session.begin():
        await counts.add(session, campaign.id, 123)
    return campaign


@pytest.mark.usefixtures("closing")
async def test_the_campaign_page_shows_progress_time_left_and_shares_safely(
    server: LiveServer, clock: FakeClock
) -> None:
    async with server.client() as visitor:
        page = await visitor.get("/c/appel-soignants", params={"lang": "en"})
        assert page.status_code == 200
        [progress] = tags(page.text, "progress")
        assert (progress["max"], progress["value"]) == ("500", "123")
        # Open until midnight at the end of 10 March in Paris (23:00 UTC); now 1 March, noon.
        assert '<p class="time-left">9 days left</p>' in page.text

        assert meta(page.text, "og:title") == "Appel des soignants"
        assert meta(page.text, "og:description") == "Texte de la campagne."
        assert meta(page.text, "og:url") == f"{BASE}/c/appel-soignants"

        outside = [a for a in tags(page.text, "a") if (a["href"] or "").startswith("http")]
        assert len(outside) >= 4  # the share links
        for anchor in outside:
            assert {"noopener", "noreferrer"} <= set((anchor["rel"] or "").split()), anchor
        scripts = [s.get("src") or "" for s in tags(page.text, "script")]
        # By their plain names, whatever fingerprint the release gave them (petition.assets).
        named = [re.sub(r"\.[0-9a-f]{12}(\.js)$", r"\1", src) for src in scripts]
        assert named[0] == "/static/live.js"
        # Only our own files, and no inline script: the proof-of-work widget when it was built.
        assert set(named[1:]) <= {"/static/vendor/altcha/altcha.min.js", "/static/pow.js"}
        for src in scripts:
            assert (await visitor.get(src)).status_code == 200, src

        clock.advance(days=9, hours=10)  # 10 March, 22:00 UTC: one hour before closing
        last_hour = await visitor.get("/c/appel-soignants")
        assert '<p class="time-left">1 hour left</p>' in last_hour.text
        clock.advance(hours=2)
        closed = await visitor.get("/c/appel-soignants")
        assert 'class="time-left"' not in closed.text
        assert 'action="/c/appel-soignants"' not in closed.text  # no signing form any more


@pytest.mark.usefixtures("campaign")
async def test_the_shared_description_reads_as_the_text_does(server: LiveServer) -> None:
    """The campaign says "une **mission de contrôle**.": previews must not add spaces."""
    async with server.client() as visitor:
        page = await visitor.get(f"/c/{SLUG}")
    assert meta(page.text, "og:description") == "Nous demandons une mission de contrôle."
    assert meta(page.text, "description") == "Nous demandons une mission de contrôle."


@pytest.mark.usefixtures("campaign")
async def test_pages_any_cache_may_keep_set_no_cookie(server: LiveServer) -> None:
    """A shared cache may hand a `public` answer to anyone, with the cookie it carries."""
    paths = [f"/c/{SLUG}/signatories", f"/c/{SLUG}/widget", f"/c/{SLUG}/badge.svg"]
    async with server.client() as stranger:
        answers = await asyncio.gather(*(stranger.get(path) for path in paths))
    public = {
        path: answer.headers.get("set-cookie", "")
        for path, answer in zip(paths, answers, strict=True)
        if "public" in answer.headers.get("cache-control", "")
    }
    assert set(public) == set(paths)
    assert {path: cookie for path, cookie in public.items() if cookie} == {}


def directives(response: httpx.Response) -> dict[str, str]:
    """The Content-Security-Policy of an answer, directive by directive."""
    policy = response.headers["content-security-policy"]
    parts = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: value for name, _, value in parts}
