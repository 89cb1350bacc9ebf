"""Campaigns: read from a Markdown file with front matter, rendered once, looked up by slug."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import nh3
import yaml
from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes, counts, i18n
from petition.forms import OPTIONAL_FIELDS, clean_text, clean_title
from petition.models import Campaign, CampaignKind, Grouping

_TAGS = re.compile(r"<[^>]*>")
_BLOCK_ENDS = re.compile(r"<(?:/(?:p|li|h[1-6]|blockquote|pre|td|th|tr)|br|hr)\b[^>]*>")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.DOTALL)
_ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "a", "ul", "ol", "li",
    "blockquote", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


class CampaignFileError(ValueError):
    """The campaign file cannot be used; the message says why, for the operator."""


class SlugTaken(ValueError):
    """Another campaign already has this slug."""


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    slug: str
    title: str
    kind: CampaignKind
    goal: int | None
    closes: date | None
    body_markdown: str
    required_fields: tuple[str, ...] = ()
    opens: date | None = None
    grouping: Grouping = Grouping.ORGANISATION
    kit: ActionKit | None = None
    controller: str = ""  # who is responsible for the data, named in the privacy notice
    privacy_contact: str = ""  # whom signers write to about their data
    language: str = "fr"  # the language of its title and text (one of i18n.LOCALES)


@dataclass(frozen=True, slots=True)
class ActionKit:
    """A letter offered to signers once they confirmed; `{first_name}`, `{last_name}` and
    `{date}` in its subject and body are filled in on their request, never stored."""

    title: str
    subject: str
    body: str
    email: str | None = None  # where their mail client should send it, if known


def parse_campaign_file(text: str) -> CampaignSpec:
    """Front matter (slug, title, kind, goal, closes, required) then the Markdown text."""
    match = _FRONT_MATTER.match(text)
    if not match:
        raise CampaignFileError("the file must start with a front matter between two '---' lines")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise CampaignFileError(f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise CampaignFileError("front matter must be a mapping of keys to values")
    keys = {"slug", "title", "kind", "goal", "opens", "closes", "required", "grouping"}
    keys |= {"controller", "privacy_contact", "language"}
    unknown = set(meta) - keys
    if unknown:
        raise CampaignFileError(f"unknown front matter keys: {', '.join(sorted(unknown))}")
    return CampaignSpec(
        slug=_slug(meta.get("slug")),
        title=_title(meta.get("title")),
        kind=_kind(meta.get("kind", "petition")),
        goal=_goal(meta.get("goal")),
        closes=_date(meta.get("closes"), "closes"),
        opens=_date(meta.get("opens"), "opens"),
        body_markdown=match.group(2).strip(),
        required_fields=_required(meta.get("required", [])),
        grouping=_grouping(meta.get("grouping", Grouping.ORGANISATION.value)),
        controller=_text(meta, "controller"),
        privacy_contact=_text(meta, "privacy_contact"),
        language=_language(meta.get("language", i18n.DEFAULT_LOCALE)),
    )


def render_markdown(markdown: str) -> str:
    """Markdown to HTML without raw HTML, then sanitised again: campaign texts are never trusted."""
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


async def create(session: AsyncSession, spec: CampaignSpec, *, now: datetime, tz: str) -> Campaign:
    if await get_by_slug(session, spec.slug) is not None:
        raise SlugTaken(spec.slug)
    campaign = Campaign(slug=spec.slug, created_at=now)
    apply(campaign, spec, tz)
    session.add(campaign)
    await session.flush()
    await counts.create_shards(session, campaign.id)
    changes.record(session, campaign.id)
    return campaign


def apply(campaign: Campaign, spec: CampaignSpec, tz: str) -> None:
    """Give a campaign everything a spec says, except its slug (links to it must keep working)."""
    campaign.kind = spec.kind
    campaign.title = spec.title
    campaign.body_markdown = spec.body_markdown
    campaign.body_html = render_markdown(spec.body_markdown)
    campaign.goal = spec.goal
    campaign.opens_at = opening_instant(spec.opens, tz) if spec.opens else None
    campaign.closes_at = closing_instant(spec.closes, tz) if spec.closes else None
    campaign.required_fields = list(spec.required_fields)
    campaign.grouping = spec.grouping
    campaign.controller = spec.controller or None
    campaign.privacy_contact = spec.privacy_contact or None
    campaign.language = spec.language
    kit = spec.kit
    campaign.kit_title = kit.title if kit else None
    campaign.kit_subject = kit.subject if kit else None
    campaign.kit_body = kit.body if kit else None
    campaign.kit_email = kit.email if kit else None


def close_now(campaign: Campaign, now: datetime) -> None:
    campaign.closes_at = now


def reopen(campaign: Campaign, closes: date | None, tz: str) -> None:
    campaign.closes_at = closing_instant(closes, tz) if closes else None


def opening_instant(opens: date, tz: str) -> datetime:
    return datetime.combine(opens, time.min, tzinfo=ZoneInfo(tz))


def closing_instant(closes: date, tz: str) -> datetime:
    """A campaign closing on a date stays open until the end of that day where it is run."""
    return datetime.combine(closes + timedelta(days=1), time.min, tzinfo=ZoneInfo(tz))


async def get_by_slug(session: AsyncSession, slug: str) -> Campaign | None:
    if not SLUG.match(slug) or len(slug) > 80:
        return None
    result = await session.execute(select(Campaign).where(Campaign.slug == slug))
    return result.scalar_one_or_none()


async def list_all(session: AsyncSession) -> list[Campaign]:
    result = await session.execute(select(Campaign).order_by(Campaign.created_at.desc()))
    return list(result.scalars())


async def any_exists(session: AsyncSession) -> bool:
    result = await session.execute(select(Campaign.id).limit(1))
    return result.first() is not None


def _slug(value: object) -> str:
    if not isinstance(value, str) or not SLUG.match(value) or len(value) > 80:
        raise CampaignFileError(
            "slug must be lower-case letters, digits and dashes, e.g. 'ma-campagne'"
        )
    return value


def _title(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 300:
        raise CampaignFileError("title is required (300 characters at most)")
    title, problem = clean_title(value, 300)
    if problem:
        raise CampaignFileError(f"title: {problem}")
    return title


def _text(meta: dict[str, object], key: str) -> str:
    value, problem = clean_text(str(meta.get(key) or ""), 300, required=False)
    if problem:
        raise CampaignFileError(f"{key}: {problem}")
    return value


def _language(value: object) -> str:
    if value not in i18n.LOCALES:
        raise CampaignFileError(f"language must be one of {', '.join(i18n.LOCALES)}")
    return str(value)


def _kind(value: object) -> CampaignKind:
    try:
        return CampaignKind(str(value))
    except ValueError:
        raise CampaignFileError("kind must be 'petition' or 'letter'") from None


def _grouping(value: object) -> Grouping:
    try:
        return Grouping(str(value))
    except ValueError:
        raise CampaignFileError("grouping must be 'organisation' or 'role'") from None


def _goal(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CampaignFileError("goal must be a positive whole number")
    return value


def _date(value: object, key: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CampaignFileError(f"{key} must be a date such as 2027-03-31") from None


def _required(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not set(map(str, value)) <= OPTIONAL_FIELDS:
        raise CampaignFileError(
            f"required lists fields among: {', '.join(sorted(OPTIONAL_FIELDS))}"
        )
    return tuple(str(item) for item in value)


def local_day(instant: datetime, tz: str) -> str:
    return instant.astimezone(ZoneInfo(tz)).date().isoformat()


def last_local_day(closes_at: datetime, tz: str) -> str:
    """The last day a campaign is open, as the organiser typed it (closes_at is midnight after)."""
    return (closes_at.astimezone(ZoneInfo(tz)) - timedelta(seconds=1)).date().isoformat()


def excerpt(body_html: str, limit: int = 200) -> str:
    """The start of a campaign's text as plain words, for link previews and search engines."""
    spaced = _BLOCK_ENDS.sub(" ", body_html)  # paragraphs and items part words; <em> does not
    words = html.unescape(_TAGS.sub("", spaced)).split()
    text = " ".join(words)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
