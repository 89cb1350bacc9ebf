"""The official petition beside ours (e.g. on the Sénat's platform): its link, threshold and
deadline, and its count, entered by organisers or read from a JSON feed by our server alone.

A feed is read with a short timeout, a capped body and http(s) only, outside any database
transaction (a slow site must never hold the writer); what it gave is then written in one short
transaction. A failed reading keeps the last count and its date and says why to organisers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import changes
from petition.campaigns import closing_instant, last_local_day
from petition.forms import clean_text
from petition.i18n import _
from petition.models import Campaign

log = logging.getLogger(__name__)

FEED_TIMEOUT = 10.0  # seconds for the whole reading, redirects included
FEED_MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 3
PARALLEL_READINGS = 8
MAX_COUNT = 2_147_483_647  # what the integer column holds
MAX_REMINDER_DAYS = 365
ORGANISER, FEED = "organiser", "feed"
# Stored errors: a message id, then (after DETAIL) words that are not translated (a status).
DETAIL = " — "

UNREACHABLE = _("The feed could not be reached.")
HTTP_ERROR = _("The feed answered with an error.")
TOO_LARGE = _("The feed is larger than 1 MiB.")
NOT_JSON = _("The feed is not valid JSON.")
NO_FIELD = _("The feed has no such field.")
NOT_A_COUNT = _("The feed's value there is not a whole number of 0 or more.")
BAD_REDIRECT = _("The feed redirected to an address that is not http or https.")
TOO_MANY_REDIRECTS = _("The feed redirected too many times.")

Errors = dict[str, str]


@dataclass(frozen=True, slots=True)
class Spec:
    """The official petition's settings, as organisers give them."""

    url: str | None
    platform: str | None
    threshold: int | None
    deadline: date | None
    reminder_days: int | None
    feed_url: str | None
    feed_field: str | None


def parse(data: Mapping[str, object]) -> Spec | Errors:
    """Clean settings, or a message for each bad field."""
    errors: Errors = {}
    url = _url(data.get("url"), "url", errors)
    platform, problem = clean_text(str(data.get("platform") or ""), 100, required=False)
    if problem:
        errors["platform"] = problem
    threshold = _whole(data.get("threshold"), 1, 100_000_000, "threshold", errors)
    deadline = _day(data.get("deadline"), errors)
    reminder = _whole(data.get("reminder_days"), 1, MAX_REMINDER_DAYS, "reminder_days", errors)
    feed_url = _url(data.get("feed_url"), "feed_url", errors)
    feed_field = str(data.get("feed_field") or "").strip()
    if feed_field and not _is_path(feed_field):
        errors["feed_field"] = _(
            "Give a path such as data.signatures: names, or list positions, between dots."
        )
    elif feed_url and not feed_field:
        errors["feed_field"] = _("Say where the count is in the feed, e.g. data.signatures.")
    if errors:
        return errors
    return Spec(
        url=url,
        platform=platform or None,
        threshold=threshold,
        deadline=deadline,
        reminder_days=reminder,
        feed_url=feed_url,
        feed_field=feed_field or None,
    )


def _url(value: object, name: str, errors: Errors) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    parts = urlsplit(text) if text.isprintable() and " " not in text else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        errors[name] = _("Give an address starting with http:// or https://.")
        return None
    if len(text) > 500:
        errors[name] = _("This is too long.")
        return None
    return text


def _whole(value: object, low: int, high: int, name: str, errors: Errors) -> int | None:
    text = str(value or "").strip().replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        errors[name] = (
            _("Give a whole number above zero, or leave empty.")
            if name == "threshold"
            else _("Give a number of days between 1 and 365, or leave empty.")
        )
        return None
    return int(text)


def _day(value: object, errors: Errors) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors["deadline"] = _("Give a date such as 2027-03-31.")
        return None


def _is_path(path: str) -> bool:
    parts = path.split(".")
    return len(path) <= 200 and all(
        part and part.isprintable() and " " not in part for part in parts
    )


def values(campaign: Campaign, tz: str) -> dict[str, str]:
    """The form's fields as the campaign holds them."""
    deadline = campaign.official_deadline
    return {
        "url": campaign.official_url or "",
        "platform": campaign.official_platform or "",
        "threshold": str(campaign.official_threshold or ""),
        "deadline": last_local_day(deadline, tz) if deadline else "",
        "reminder_days": str(campaign.official_reminder_days or ""),
        "feed_url": campaign.official_feed_url or "",
        "feed_field": campaign.official_feed_field or "",
    }


def apply(session: AsyncSession, campaign: Campaign, spec: Spec, tz: str) -> list[str]:
    """Save the settings; the names of those that changed (for the audit log)."""
    wanted = {
        "official_url": spec.url,
        "official_platform": spec.platform,
        "official_threshold": spec.threshold,
        "official_deadline": closing_instant(spec.deadline, tz) if spec.deadline else None,
        "official_reminder_days": spec.reminder_days,
        "official_feed_url": spec.feed_url,
        "official_feed_field": spec.feed_field,
    }
    changed = [name for name, value in wanted.items() if getattr(campaign, name) != value]
    for name in changed:
        setattr(campaign, name, wanted[name])
    if {"official_feed_url", "official_feed_field"} & set(changed):
        # A new feed has not been read yet: the old one's failure says nothing of it.
        campaign.official_feed_error = None
        campaign.official_feed_checked_at = None
    if changed:
        changes.record(session, campaign.id)
    return [name.removeprefix("official_") for name in changed]


def parse_count(raw: object) -> int | None:
    """A count typed by an organiser (spaces allowed, as French writes 124 310), or None."""
    text = str(raw or "").strip().replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    if not text.isdigit() or int(text) > MAX_COUNT:
        return None
    return int(text)


def set_count(
    session: AsyncSession, campaign: Campaign, count: int, source: str, now: datetime
) -> int | None:
    """The official count as of `now`; the count it replaces."""
    before = campaign.official_count
    campaign.official_count = count
    campaign.official_count_at = now
    campaign.official_count_source = source
    changes.record(session, campaign.id)
    return before


class FeedError(Exception):
    """A feed that gave no count: a message id, and words that are not translated."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def stored(self) -> str:
        text = self.message + (DETAIL + self.detail if self.detail else "")
        return text[:300]


def error_parts(stored: str | None) -> tuple[str, str | None] | None:
    """A stored error as its message id and detail, for pages to translate the first."""
    if not stored:
        return None
    message, _sep, detail = stored.partition(DETAIL)
    return message, detail or None


def value_at(document: object, path: str) -> int:
    """The whole number at `path` ("data.signatures", "items.0.count") in a JSON document."""
    here = document
    for part in path.split("."):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            raise FeedError(NO_FIELD, path)
    if isinstance(here, bool) or not isinstance(here, int) or not 0 <= here <= MAX_COUNT:
        raise FeedError(NOT_A_COUNT, repr(here)[:40])
    return here


async def read_feed(url: str, path: str) -> int:
    """The count a feed gives now; FeedError, short and fit for organisers, if none."""
    try:
        async with asyncio.timeout(FEED_TIMEOUT):
            body = await _fetch(url)
    except TimeoutError:
        raise FeedError(UNREACHABLE, "timeout") from None
    try:
        document = json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        raise FeedError(NOT_JSON) from None
    return value_at(document, path)


async def _fetch(url: str) -> bytes:
    # No environment (proxies, .netrc credentials): the site's own connection, nothing sent
    # to the feed but the request itself.
    client = httpx.AsyncClient(
        timeout=FEED_TIMEOUT,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
        event_hooks={"request": [_http_only]},
        headers={"Accept": "application/json", "User-Agent": "petition (official count)"},
    )
    try:
        async with client, client.stream("GET", url) as response:
            if not response.is_success:
                raise FeedError(HTTP_ERROR, f"HTTP {response.status_code}")
            return await _capped(response)
    except httpx.TooManyRedirects:
        raise FeedError(TOO_MANY_REDIRECTS) from None
    except httpx.UnsupportedProtocol:
        raise FeedError(BAD_REDIRECT) from None
    except httpx.TimeoutException:
        raise FeedError(UNREACHABLE, "timeout") from None
    except httpx.HTTPError as exc:
        raise FeedError(UNREACHABLE, type(exc).__name__) from None


async def _http_only(request: httpx.Request) -> None:
    """Every request of a reading, redirects included, goes to an http(s) address."""
    if request.url.scheme not in ("http", "https"):
        raise FeedError(BAD_REDIRECT)


async def _capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FEED_MAX_BYTES:
        raise FeedError(TOO_LARGE)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > FEED_MAX_BYTES:
            raise FeedError(TOO_LARGE)
    return bytes(body)


@dataclass(frozen=True, slots=True)
class Feed:
    campaign_id: int
    slug: str
    url: str
    path: str


@dataclass(frozen=True, slots=True)
class Reading:
    feed: Feed
    count: int | None
    error: FeedError | None


async def feeds(session: AsyncSession) -> list[Feed]:
    """Every campaign's feed to read."""
    rows = await session.execute(
        select(Campaign.id, Campaign.slug, Campaign.official_feed_url, Campaign.official_feed_field)
        .where(Campaign.official_feed_url.is_not(None), Campaign.official_feed_field.is_not(None))
        .order_by(Campaign.id)
    )
    return [Feed(ident, slug, url, path) for ident, slug, url, path in rows.all() if url and path]


def feed_of(campaign: Campaign) -> Feed | None:
    if not campaign.official_feed_url or not campaign.official_feed_field:
        return None
    return Feed(
        campaign.id, campaign.slug, campaign.official_feed_url, campaign.official_feed_field
    )


async def read_all(due: Sequence[Feed]) -> list[Reading]:
    """Read these feeds, a few at a time; never raises for a feed that fails."""
    gate = asyncio.Semaphore(PARALLEL_READINGS)

    async def one(feed: Feed) -> Reading:
        async with gate:
            try:
                return Reading(feed, await read_feed(feed.url, feed.path), None)
            except FeedError as exc:
                return Reading(feed, None, exc)

    return list(await asyncio.gather(*(one(feed) for feed in due)))


async def record(session: AsyncSession, readings: Sequence[Reading], now: datetime) -> None:
    """Write what the feeds gave: a count dated now, or the failure beside the last count."""
    for reading in readings:
        campaign = await session.get(Campaign, reading.feed.campaign_id)
        if campaign is None or feed_of(campaign) != reading.feed:
            continue  # deleted, or given another feed while this one was read
        record_one(session, campaign, reading, now)


def record_one(session: AsyncSession, campaign: Campaign, reading: Reading, now: datetime) -> None:
    campaign.official_feed_checked_at = now
    if reading.count is None:
        problem = reading.error.stored() if reading.error else UNREACHABLE
        campaign.official_feed_error = problem
        log.warning("official count feed of %s not read: %s", campaign.slug, problem)
        return
    campaign.official_feed_error = None
    set_count(session, campaign, reading.count, FEED, now)
