"""A campaign's text in more languages: one version per language beside the campaign's own.

The campaign row holds its title, text and action-kit letter in `Campaign.language`; each
`CampaignText` row holds them in one more language (any ISO 639-1 code, while the interface
itself speaks French and English). Signatures, count and form are the campaign's, whatever
version a visitor reads. Texts are rendered and sanitised once, when saved.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from babel import Locale, UnknownLocaleError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, db
from petition.campaign_form import BODY_MAX
from petition.campaigns import render_markdown
from petition.forms import Errors, clean_text, clean_title
from petition.i18n import _
from petition.models import Campaign, CampaignText

# Two-letter codes the locale data names (ISO 639-1), e.g. "de", "es", "ar".
LANGUAGES: tuple[str, ...] = tuple(
    sorted(
        code
        for code in Locale("en").languages
        if isinstance(code, str) and len(code) == 2 and code.isalpha()
    )
)


@dataclass(frozen=True, slots=True)
class Version:
    """One language's title, text and kit letter, as the public pages show them."""

    language: str
    title: str
    body_html: str
    kit_subject: str | None
    kit_body: str | None
    own: bool  # the campaign row's own text, not a CampaignText

    @property
    def name(self) -> str:
        """The language's name in itself ("Deutsch"), for the switch between versions."""
        return autonym(self.language)


@dataclass(frozen=True, slots=True)
class Draft:
    """A version as an editor typed it, checked."""

    language: str
    title: str
    body_markdown: str
    kit_subject: str | None
    kit_body: str | None


def is_language(code: str) -> bool:
    return code in LANGUAGES


@functools.lru_cache(maxsize=256)
def autonym(code: str) -> str:
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (UnknownLocaleError, ValueError):  # no locale data: its English name
        name = Locale("en").languages.get(code, code)
    return name[:1].upper() + name[1:]


@functools.lru_cache(maxsize=8)
def choices(locale: str) -> tuple[tuple[str, str], ...]:
    """Every language an editor may add, named in the interface's language, by name."""
    names = Locale.parse(locale).languages
    named = [(code, names.get(code, code)) for code in LANGUAGES]
    return tuple(sorted(named, key=lambda item: _sort_key(item[1])))


def _sort_key(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in plain if not unicodedata.combining(c))


def parse(data: Mapping[str, object], *, own_language: str) -> Draft | Errors:
    """A version from the form: a known language other than the campaign's own, a title and
    a text; the kit letter's subject and text both, or neither."""
    errors: Errors = {}
    language = str(data.get("language", "")).strip().lower()
    if not is_language(language):
        errors["language"] = _("Choose a language from the list.")
    elif language == own_language:
        errors["language"] = _(
            "The campaign's own text is in this language: change it in the campaign's form."
        )
    title, problem = clean_title(str(data.get("title", "")), 300)
    if problem:
        errors["title"] = problem
    body = _long_text(data.get("body"), "body", errors, required=True)
    subject, problem = clean_text(str(data.get("kit_subject", "")), 300, required=False)
    if problem:
        errors["kit_subject"] = problem
    kit_body = _long_text(data.get("kit_body"), "kit_body", errors, required=False)
    if bool(subject) != bool(kit_body) and not {"kit_subject", "kit_body"} & set(errors):
        errors["kit_body" if subject else "kit_subject"] = _(
            "Give both the subject and the text of the letter, or neither."
        )
    if errors:
        return errors
    return Draft(language, title, body, subject or None, kit_body or None)


def _long_text(value: object, name: str, errors: Errors, *, required: bool) -> str:
    text = str(value or "").replace("\r\n", "\n").strip()
    if not text and required:
        errors[name] = _("This field is required.")
    elif len(text) > BODY_MAX:
        errors[name] = _("This is too long.")
    return text


def versions(campaign: Campaign, rows: Iterable[CampaignText]) -> list[Version]:
    """The campaign's own version first, then the others by language code."""
    own = Version(
        campaign.language, campaign.title, campaign.body_html,
        campaign.kit_subject, campaign.kit_body, own=True,
    )  # fmt: skip
    others = [
        Version(row.language, row.title, row.body_html, row.kit_subject, row.kit_body, own=False)
        for row in sorted(rows, key=lambda row: row.language)
        if row.language != campaign.language  # the campaign's own language changed: it wins
    ]
    return [own, *others]


def choose(available: Sequence[Version], asked: str | None, locale: str) -> Version:
    """The version asked for by name (?version=), else the one in the interface's language,
    else the campaign's own."""
    by_language = {version.language: version for version in available}
    for wanted in (asked, locale):
        if wanted is not None and wanted in by_language:
            return by_language[wanted]
    return available[0]


async def listed(session: AsyncSession, campaign_id: int) -> list[CampaignText]:
    result = await session.execute(
        select(CampaignText)
        .where(CampaignText.campaign_id == campaign_id)
        .order_by(CampaignText.language)
    )
    return list(result.scalars())


async def of_campaigns(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, tuple[CampaignText, ...]]:
    """Every campaign's versions at once, for the live snapshot."""
    if not campaign_ids:
        return {}
    result = await session.execute(
        select(CampaignText).where(CampaignText.campaign_id.in_(campaign_ids))
    )
    found: dict[int, list[CampaignText]] = {}
    for row in result.scalars():
        found.setdefault(row.campaign_id, []).append(row)
    return {campaign_id: tuple(rows) for campaign_id, rows in found.items()}


async def save(session: AsyncSession, campaign: Campaign, draft: Draft, now: datetime) -> bool:
    """Add the version in its language, or replace the one there is; True when it is new."""
    row = await session.get(CampaignText, (campaign.id, draft.language))
    new = row is None
    if row is None:
        row = CampaignText(campaign_id=campaign.id, language=draft.language)
        session.add(row)
    row.title = draft.title
    row.body_markdown = draft.body_markdown
    row.body_html = render_markdown(draft.body_markdown)
    row.kit_subject = draft.kit_subject
    row.kit_body = draft.kit_body
    row.updated_at = now
    await session.flush()
    changes.record(session, campaign.id)
    return new


async def remove(session: AsyncSession, campaign: Campaign, language: str) -> bool:
    """Remove the version in this language; False when there was none."""
    result = await session.execute(
        delete(CampaignText).where(
            CampaignText.campaign_id == campaign.id, CampaignText.language == language
        )
    )
    changes.record(session, campaign.id)
    return db.rowcount(result) > 0
