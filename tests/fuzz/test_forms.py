"""The HTML forms, fuzzed as a browser would send them, then worse: each example opens the page,
takes its CSRF token and hidden fields (the form stamp), and submits drawn values in a drawn
encoding (tests.fuzz.strategies). Every answer must be below 500, with nothing logged as an error;
a form-encoded body past `max_body_bytes` must be answered 413.

Inputs known to have broken a server like this one are given as explicit examples (`@example`),
tried on every run before the drawn ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import budget
from tests.fuzz.browser import Site
from tests.fuzz.conftest import KIT_SLUG, World
from tests.fuzz.oracle import ServerLog, assert_quiet
from tests.fuzz.strategies import (
    accented_names,
    emails,
    headers,
    numbers,
    queries,
    segments,
    texts,
)
from tests.fuzz.submissions import AS_A_BROWSER, CSRF_FIELD, FORM, Submission, submissions
from tests.support.journey import signer

pytestmark = pytest.mark.filterwarnings(budget.RANDOM_IN_SERVER)

SLUG = "mission-sante"  # the open petition of tests.fuzz.conftest.world
SIGNING_FIELDS = (
    "first_name",
    "last_name",
    "role",
    "organisation",
    "email",
    "consent",
    "publication",
)
PUBLICATIONS = ("none", "name", "name_role", "name_role_org")
NON_ASCII_TOKEN = dataclasses.replace(AS_A_BROWSER, csrf="non-ascii", csrf_value="é" * 65)
TOKEN_AS_FILE = dataclasses.replace(AS_A_BROWSER, csrf="file")


async def run(fuzz: Callable[[], None], site: Site) -> None:
    """Run the property in a worker thread; then fail on any error the server logged outside
    the requests (the mail sender, chores)."""
    start = site.log.mark()
    with site:
        await asyncio.to_thread(fuzz)
    await asyncio.sleep(0.5)  # the mail sender's work started by the last requests
    assert_quiet(site.log, start, "outside the requests")


def site_of(world: World, log: ServerLog) -> Site:
    return Site(world.base_url, log, world.max_body_bytes)


async def test_signing_form(world: World, server_log: ServerLog) -> None:
    site = site_of(world, server_log)
    slugs = st.sampled_from(world.open_slugs * 4 + world.other_slugs)
    defaults = {**signer(), "publication": "name"}

    @budget.profile(budget.examples(60, world.database_url))
    @given(slug=slugs, drawn=submissions(SIGNING_FIELDS), email=emails())
    @example(slug=SLUG, drawn=NON_ASCII_TOKEN, email="marie.curie@example.org")
    @example(slug=SLUG, drawn=TOKEN_AS_FILE, email="marie.curie@example.org")
    @example(slug=SLUG, drawn=AS_A_BROWSER, email="marie.curie@bücher.example")
    def fuzz(slug: str, drawn: Submission, email: str) -> None:
        browser = site.browser()
        token, hidden = browser.form_of(f"/c/{slug}")
        browser.submit(f"/c/{slug}", drawn, {**defaults, "email": email, **hidden}, token)

    await run(fuzz, site)


ACCOUNT_FORMS = {
    # page and form: the fields a person fills in
    "/manage": ("email", "website"),
    "/organiser/login": ("email", "password", "code"),
    "/organiser/reset": ("email",),
}


@pytest.mark.parametrize("path", list(ACCOUNT_FORMS))
async def test_account_forms(world: World, server_log: ServerLog, path: str) -> None:
    """Asking for the "manage my signature" link, signing in as an organiser, asking for a
    password reset: with the real organiser's address and password among the drawn values."""
    site = site_of(world, server_log)
    fields = ACCOUNT_FORMS[path]
    known = {"email": world.organiser, "password": world.password, "code": "123456"}
    real_or_drawn = {
        "email": st.one_of(st.just(world.organiser), emails()),
        "password": st.one_of(st.just(world.password), texts()),
        "code": st.one_of(st.sampled_from(("", "000000", "1234567")), texts()),
        "website": st.one_of(st.just(""), texts()),
    }
    values = st.fixed_dictionaries({name: real_or_drawn[name] for name in fields})

    @budget.profile(budget.examples(20, world.database_url))
    @given(typed=values, drawn=submissions(fields))
    @example(typed={}, drawn=NON_ASCII_TOKEN)
    def fuzz(typed: dict[str, str], drawn: Submission) -> None:
        browser = site.browser()
        token, hidden = browser.form_of(path)
        base = {name: known.get(name, "") for name in fields}
        browser.submit(path, drawn, {**base, **typed, **hidden}, token)

    await run(fuzz, site)


KIT_FORMATS = ("text", "pdf", "mail")
KIT_AS_TEXT = {"first_name": "Marie", "last_name": "Curie", "format": "text"}


async def test_action_kit_form(world: World, server_log: ServerLog) -> None:
    """The action kit a confirmed signer fills with their name: as text, PDF or mail."""
    site = site_of(world, server_log)
    fields = ("first_name", "last_name", "format")
    values = st.fixed_dictionaries(
        {
            "first_name": st.one_of(accented_names(), texts()),
            "last_name": st.one_of(st.just("Curie"), texts()),
            "format": st.one_of(st.sampled_from(KIT_FORMATS), texts()),
        }
    )

    @budget.profile(budget.examples(20, world.database_url))
    @given(slug=st.sampled_from((KIT_SLUG, *world.slugs)), typed=values, drawn=submissions(fields))
    @example(slug=KIT_SLUG, typed=KIT_AS_TEXT, drawn=AS_A_BROWSER)
    def fuzz(slug: str, typed: dict[str, str], drawn: Submission) -> None:
        browser = site.browser()
        token, hidden = browser.form_of(f"/c/{slug}/confirmed")
        browser.submit(f"/c/{slug}/kit", drawn, {**typed, **hidden}, token)

    await run(fuzz, site)


LINK_BUTTONS = (
    # the forms behind a mailed link: (path, fields)
    ("/confirm/{token}", ()),
    ("/withdraw/{token}", ()),
    ("/withdraw/{token}/publication", ("publication",)),
    ("/manage/{token}/data", ("email",)),
    ("/manage/{token}/{number}/publication", ("publication",)),
    ("/manage/{token}/{number}/withdraw", ()),
    ("/organiser/password/{token}", ("password", "password_again")),
)


async def test_mailed_link_buttons(world: World, server_log: ServerLog) -> None:
    """The buttons of mailed links, with real tokens, mangled ones and junk; numbers past 64
    bits where the path takes a row id."""
    site = site_of(world, server_log)
    ids = st.one_of(st.integers(min_value=1, max_value=130).map(str), numbers())
    publications = st.one_of(st.sampled_from(PUBLICATIONS), texts())
    past_64_bits = "99999999999999999999"

    @budget.profile(budget.examples(50, world.database_url))
    @given(
        button=st.sampled_from(LINK_BUTTONS),
        token=segments(world.tokens),
        number=ids,
        publication=publications,
        drawn=submissions(("publication", "email", "password", "password_again")),
    )
    @example(
        button=LINK_BUTTONS[4],
        token=world.manage_token,
        number=past_64_bits,
        publication="name",
        drawn=AS_A_BROWSER,
    )
    @example(
        button=LINK_BUTTONS[0],
        token=world.confirm_token,
        number="1",
        publication="name",
        drawn=NON_ASCII_TOKEN,
    )
    def fuzz(
        button: tuple[str, tuple[str, ...]],
        token: str,
        number: str,
        publication: str,
        drawn: Submission,
    ) -> None:
        template, fields = button
        path = template.format(token=token, number=number)
        browser = site.browser()
        page_token, hidden = browser.form_of(path)
        base = {"publication": publication, "email": "camille@example.org"}
        base |= {"password": world.password * 2, "password_again": world.password * 2}
        chosen = {name: base[name] for name in fields}
        browser.submit(path, drawn, {**chosen, **hidden}, page_token)

    await run(fuzz, site)


PAGES = (
    "/",
    "/c/{slug}",
    "/c/{slug}/thanks",
    "/c/{slug}/confirmed",
    "/c/{slug}/withdrawn",
    "/c/{slug}/privacy",
    "/c/{slug}/privacy/{number}",
    "/c/{slug}/signatories",
    "/c/{slug}/widget",
    "/c/{slug}/badge.svg",
    "/c/{slug}/letter",
    "/c/{slug}/challenge",
    "/confirm/{token}",
    "/withdraw/{token}",
    "/manage",
    "/manage/sent",
    "/manage/{token}",
    "/organiser/login",
    "/organiser/reset",
    "/organiser/password/{token}",
    "/api/v1/campaigns",
    "/api/v1/campaigns/{slug}",
    "/api/v1/campaigns/{slug}/signatories",
    "/dashboard",
    "/dashboard/c/{slug}",
    "/dashboard/c/{slug}/signatures",
    "/dashboard/c/{slug}/addressees/{number}/pack.pdf",
    "/static/{token}",
    "/{token}",
)


async def test_pages_with_fuzzed_paths_queries_and_headers(
    world: World, server_log: ServerLog
) -> None:
    site = site_of(world, server_log)

    @budget.profile(budget.examples(120, world.database_url))
    @given(
        template=st.sampled_from(PAGES),
        slug=segments(world.slugs),
        token=segments(world.tokens),
        number=st.one_of(st.sampled_from(("1", "2")), numbers()),
        query=st.one_of(st.just(""), queries()),
        odd=headers(),
    )
    @example(
        template="/c/{slug}/privacy/{number}",
        slug=SLUG,
        token="",
        number="99999999999999999999",
        query="",
        odd=(),
    )
    @example(template="/static/{token}", slug=SLUG, token="%00", number="1", query="", odd=())
    def fuzz(
        template: str,
        slug: str,
        token: str,
        number: str,
        query: str,
        odd: tuple[tuple[str, bytes], ...],
    ) -> None:
        path = template.format(slug=slug, token=token, number=number)
        target = f"{path}?{query}" if query else path
        site.browser().open(target, dict(odd))

    await run(fuzz, site)


OVERSIZED_TARGETS = (
    "/c/{slug}",
    "/manage",
    "/organiser/login",
    "/organiser/reset",
    "/confirm/{token}",
    "/withdraw/{token}",
)


async def test_oversized_form_bodies_are_refused_with_413(
    world: World, server_log: ServerLog
) -> None:
    """Past `max_body_bytes`, with a length announced or sent in chunks without one; the CSRF
    token in the body, where the server must read it."""
    site = site_of(world, server_log)

    @budget.profile(budget.examples(15, world.database_url))
    @given(
        template=st.sampled_from(OVERSIZED_TARGETS),
        slug=st.sampled_from(world.slugs),
        token=st.sampled_from(world.tokens),
        excess=st.integers(min_value=1, max_value=3 * world.max_body_bytes),
        multipart=st.booleans(),
        chunked=st.booleans(),
    )
    def fuzz(
        template: str, slug: str, token: str, excess: int, multipart: bool, chunked: bool
    ) -> None:
        path = template.format(slug=slug, token=token)
        browser = site.browser()
        page_token, hidden = browser.form_of(path)
        size = world.max_body_bytes + excess
        body, content_type = _oversized(page_token, hidden, size, multipart)
        browser.send_oversized(path, body, content_type, chunked=chunked)

    await run(fuzz, site)


def _oversized(token: str, hidden: dict[str, str], size: int, multipart: bool) -> tuple[bytes, str]:
    fields = {**hidden, CSRF_FIELD: token}
    if multipart:
        boundary = "fuzz-boundary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        ]
        head = "".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="role"'
        head += "\r\n\r\n"
        tail = f"\r\n--{boundary}--\r\n"
        filler = b"x" * max(0, size - len(head) - len(tail))
        return head.encode() + filler + tail.encode(), f"multipart/form-data; boundary={boundary}"
    head = "&".join(f"{k}={v}" for k, v in fields.items()) + "&role="
    return head.encode() + b"x" * max(0, size - len(head)), FORM
