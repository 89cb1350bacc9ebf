"""Addressees of a letter, imported from a spreadsheet: all rows or none, each bad one named.

Columns (a header line, `,` or `;` between cells, UTF-8 with or without BOM): salutation, name,
title, institution, email, organisations, domains — the last two list, separated by `|`, the
organisation names and email domains that belong to the institution.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import spellings
from petition.affiliations import clean_domain
from petition.forms import clean_email, clean_text
from petition.i18n import _
from petition.models import Addressee, OutboxMail, OutboxStatus
from petition.published import Signatory

COLUMNS = ("salutation", "name", "title", "institution", "email", "organisations", "domains")
REQUIRED = ("salutation", "name", "institution", "email")
MAX_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Row:
    salutation: str
    name: str
    title: str | None
    institution: str
    email: str
    organisations: tuple[str, ...]
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineError:
    line: int  # as a spreadsheet numbers it: the header is line 1
    column: str | None
    message: str  # a message id, translated where shown


def parse(text: str, existing: Sequence[str] = ()) -> list[Row] | list[LineError]:
    """Every row clean, or every problem with its line; `existing`: addresses already imported."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        return [LineError(1, ", ".join(missing), _("These columns are missing."))]
    rows: list[Row] = []
    errors: list[LineError] = []
    seen = {address.lower() for address in existing}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if number > MAX_ROWS + 1:
            errors.append(LineError(number, None, _("Too many rows: import them in parts.")))
            break
        values = dict(zip(header, cells, strict=False))
        row = _row(number, values, errors)
        if row is None:
            continue
        if row.email in seen:
            errors.append(LineError(number, "email", _("This address appears twice.")))
            continue
        seen.add(row.email)
        rows.append(row)
    return errors or rows


def _row(number: int, values: dict[str, str], errors: list[LineError]) -> Row | None:
    before = len(errors)
    texts: dict[str, str] = {}
    for name, limit in (("salutation", 100), ("name", 200), ("title", 200), ("institution", 200)):
        value, problem = clean_text(values.get(name, ""), limit, required=name in REQUIRED)
        if problem:
            errors.append(LineError(number, name, problem))
        texts[name] = value
    email, problem = clean_email(values.get("email", ""))
    if problem:
        errors.append(LineError(number, "email", problem))
    organisations = []
    for part in _parts(values.get("organisations", "")):
        value, problem = clean_text(part, 200, required=True)
        if problem:
            errors.append(LineError(number, "organisations", problem))
        organisations.append(value)
    domains = []
    for part in _parts(values.get("domains", "")):
        domain = clean_domain(part)
        if domain is None:
            errors.append(
                LineError(number, "domains", _("Give a domain name such as chu-lyon.fr."))
            )
        else:
            domains.append(domain)
    if len(errors) > before:
        return None
    return Row(
        salutation=texts["salutation"],
        name=texts["name"],
        title=texts["title"] or None,
        institution=texts["institution"],
        email=email,
        organisations=tuple(organisations),
        domains=tuple(domains),
    )


def _parts(cell: str) -> list[str]:
    return [part.strip() for part in cell.split("|") if part.strip()]


async def listed(session: AsyncSession, campaign_id: int) -> list[Addressee]:
    result = await session.execute(
        select(Addressee)
        .where(Addressee.campaign_id == campaign_id)
        .order_by(Addressee.institution, Addressee.name)
    )
    return list(result.scalars())


async def add_all(
    session: AsyncSession, campaign_id: int, rows: Sequence[Row], now: datetime
) -> None:
    session.add_all(
        Addressee(
            campaign_id=campaign_id,
            salutation=row.salutation,
            name=row.name,
            title=row.title,
            institution=row.institution,
            email=row.email,
            organisations=list(row.organisations),
            domains=list(row.domains),
            created_at=now,
        )
        for row in rows
    )
    await session.flush()


def from_institution(addressee: Addressee, signatory: Signatory) -> bool:
    """Is this published signatory one of the addressee's own staff: by the organisation they
    chose to publish, or by the domain that verified it?"""
    if signatory.organisation is None:
        return False
    names = [addressee.institution, *addressee.organisations]
    if any(spellings.same(name, signatory.organisation) for name in names):
        return True
    domain = signatory.verified_domain
    return domain is not None and any(
        domain == own or domain.endswith("." + own) for own in addressee.domains
    )


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # "new", "queued", "sent" or "failed"
    at: datetime | None  # when it is due, or was sent
    reason: str | None


async def statuses(session: AsyncSession, campaign_id: int) -> dict[int, Status]:
    """Where the letter to each addressee stands, read from its mail in the outbox."""
    rows = await session.execute(
        select(Addressee.id, OutboxMail.status, OutboxMail.next_attempt_at, OutboxMail.sent_at,
               OutboxMail.last_error)
        .outerjoin(OutboxMail, OutboxMail.id == Addressee.outbox_id)
        .where(Addressee.campaign_id == campaign_id)
    )  # fmt: skip
    result = {}
    for ident, status, due, sent, error in rows.all():
        if status is None:
            result[ident] = Status("new", None, None)
        elif status is OutboxStatus.SENT:
            result[ident] = Status("sent", sent, None)
        elif status is OutboxStatus.FAILED:
            result[ident] = Status("failed", None, error)
        else:
            result[ident] = Status("queued", due, error)
    return result


async def sendable(
    session: AsyncSession,
    campaign_id: int,
    ids: Sequence[int] | None,
    *,
    include_failed: bool,
    lock: bool = False,
) -> list[Addressee]:
    """Addressees the letter may go to now: never sent (and, when asked, failed). Never one
    queued or sent, so a double click, two organisers or a resend cannot send it twice."""
    allowed: list[ColumnElement[bool]] = [Addressee.outbox_id.is_(None)]
    if include_failed:
        allowed.append(OutboxMail.status == OutboxStatus.FAILED)
    query = (
        select(Addressee)
        .outerjoin(OutboxMail, OutboxMail.id == Addressee.outbox_id)
        .where(Addressee.campaign_id == campaign_id, or_(*allowed))
        .order_by(Addressee.id)
    )
    if ids is not None:
        query = query.where(Addressee.id.in_(ids))
    if lock:
        query = query.with_for_update(of=Addressee)
    return list((await session.execute(query)).scalars())


async def next_slot(
    session: AsyncSession, campaign_id: int, now: datetime, step: timedelta
) -> datetime:
    """When the next letter may leave: after those already queued, one every `step`."""
    latest = await session.scalar(
        select(func.max(OutboxMail.next_attempt_at))
        .join(Addressee, Addressee.outbox_id == OutboxMail.id)
        .where(Addressee.campaign_id == campaign_id, OutboxMail.status == OutboxStatus.PENDING)
    )
    return max(now, latest + step) if latest is not None else now
