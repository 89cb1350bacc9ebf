"""Every page of the site, in one list: what tests/browser visits in Chromium. A new page is one
line here (a page still being built takes `pending`: its 404 is then an expected failure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SLUG = "mission-sante"  # open, with signatures
CLOSED = "mission-close"  # closed yesterday
LETTER = "lettre-directeurs"  # a letter, with addressees
SUBMIT = "form[action^='/c/'] button[type=submit]"
# What a visitor must see on a campaign page before scrolling, on a phone as on a desktop.
FIRST_SCREEN = (
    "h1",
    "[data-live-count]",
    ".count progress",
    ".campaign-head a.button[href='#sign']",
)
CONFIRM = "form[action^='/confirm/'] button[type=submit]"
WITHDRAW = "form[action^='/withdraw/']:not([action$='/publication']) button[type=submit]"


@dataclass(frozen=True)
class Page:
    name: str  # of its screenshot: build/screenshots/NAME-WIDTH.png
    path: str  # {confirm}, {withdraw}, {manage}, {password}: tokens from the mails of the run
    # public, english (its own cookies: the language), or an organiser of test_pages.py
    audience: str = "public"
    status: int = 200
    click: str | None = None  # a button pressed once the page is open: the page checked is next
    solve: bool = False  # before the click, wait for the proof of work
    once: bool = False  # the click changes what it acts on: other widths reopen where it led
    lighthouse: bool = False  # also measured by Lighthouse
    pending: str | None = None  # a page being built: a 404 is an expected failure, for this reason
    fold: tuple[str, ...] = ()  # elements whose place on the opened page is measured (selectors)

    def spec(self, tokens: dict[str, str]) -> dict[str, Any]:
        return {**asdict(self), "path": self.path.format(**tokens)}


PUBLIC = [
    Page("home", "/", lighthouse=True),
    Page("campaign", f"/c/{SLUG}", lighthouse=True, fold=FIRST_SCREEN),
    Page("campaign-en", f"/c/{SLUG}?lang=en", audience="english"),
    Page(
        "campaign-errors",
        f"/c/{SLUG}",
        status=422,
        click=SUBMIT,
        solve=True,
        fold=(".error-summary",),
    ),
    Page("campaign-closed", f"/c/{CLOSED}"),
    Page("thanks", f"/c/{SLUG}/thanks"),
    Page("confirm", "/confirm/{confirm}"),
    Page("confirmed", "/confirm/{confirm}", click=CONFIRM, once=True),
    Page("withdraw", "/withdraw/{withdraw}"),
    Page("withdrawn", "/withdraw/{withdraw}", click=WITHDRAW, once=True),
    Page("manage-request", "/manage"),
    Page("manage", "/manage/{manage}"),
    Page("signatories", f"/c/{SLUG}/signatories", lighthouse=True),
    Page("letter", f"/c/{SLUG}/letter"),
    Page("letter-campaign", f"/c/{LETTER}/letter"),
    Page("privacy", f"/c/{SLUG}/privacy", lighthouse=True),
    Page("widget", f"/c/{SLUG}/widget"),
    Page("not-found", "/c/nulle-part", status=404),
    Page("accessibility", "/accessibility"),
    Page("accessibility-en", "/accessibility?lang=en", audience="english"),
    Page("home-en", "/?lang=en", audience="english"),
    Page("legal", "/legal"),
    Page("login", "/organiser/login"),
    Page("reset", "/organiser/reset"),
    Page("password", "/organiser/password/{password}"),
    Page("unsubscribe", "/unsubscribe/1.not-a-link-of-ours-not-a-link-of-ours"),
]
BOARD = f"/dashboard/c/{SLUG}"
ORGANISER = [
    Page("two-factor", "/organiser/2fa", audience="newcomer"),
    Page("dashboard", "/dashboard", audience="owner"),
    Page("board", BOARD, audience="owner"),
    Page("board-signatures", f"{BOARD}/signatures", audience="owner"),
    Page("board-quarantine", f"{BOARD}/quarantine", audience="owner"),
    Page("board-moderate", f"{BOARD}/moderate?name=Curie", audience="owner"),
    Page("board-addressees", f"/dashboard/c/{LETTER}/addressees", audience="owner"),
    Page("board-affiliations", f"{BOARD}/affiliations", audience="owner"),
    Page("board-paper", f"{BOARD}/paper", audience="owner"),
    Page("board-texts", f"{BOARD}/texts", audience="owner"),
    Page("board-official", f"{BOARD}/official", audience="owner"),
    Page("board-milestones", f"{BOARD}/milestones", audience="owner"),
    Page("board-updates", f"{BOARD}/updates", audience="owner"),
    Page("board-update", f"{BOARD}/updates/1", audience="owner"),
    Page("board-new", "/dashboard/new", audience="owner"),
    Page("board-edit", f"{BOARD}/edit", audience="owner"),
    Page("board-keys", f"{BOARD}/keys", audience="owner"),
    Page("reader-key", "/organiser/key", audience="owner"),
    Page("open-export", "/organiser/open", audience="owner"),
    Page("board-team", f"{BOARD}/team", audience="owner"),
    Page("board-audit", f"{BOARD}/audit", audience="owner"),
]
PAGES = PUBLIC + ORGANISER
WIDTHS = (390, 1280)  # a phone (390×844) and a desktop (1280×800)
