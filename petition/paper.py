"""Signatures gathered on paper: counted batches (a total) and named batches (rows from a CSV).

Both are part of the count (`counts.add`) and of `Campaign.paper_count`, moved in the
transaction that changes them. A named row is a confirmed `Signature` without an address,
published by the choice signed on the sheet and erased by the same rules as any other; a
sheet line without the consent box ticked is refused. Every change is audited.

CSV columns (a header line, `,` or `;` between cells, UTF-8 with or without BOM): first_name,
last_name, role, organisation, publication (none, name, name_role or name_role_org; empty is
none), consent (yes, oui or x when ticked on the sheet).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit, campaigns, changes, counts, dates, db, journal, retention, sealing
from petition.forms import FIELD_LIMITS, Errors, clean_text, publication_choice
from petition.i18n import _
from petition.models import Campaign, Organiser, PaperBatch, Publication, Signature, SignatureStatus

COLUMNS = ("first_name", "last_name", "role", "organisation", "publication", "consent")
REQUIRED = ("first_name", "last_name", "consent")
TICKED = frozenset({"yes", "oui", "x", "1", "true", "y", "o"})
MAX_ROWS = 5000
MAX_TOTAL = 1_000_000
_CHUNK = 1000  # ids per IN list (asyncpg takes 32767 parameters at most)


@dataclass(frozen=True, slots=True)
class Row:
    first_name: str
    last_name: str
    role: str | None
    organisation: str | None
    publication: Publication

    def typed(self) -> dict[str, str | None]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "role": self.role,
            "organisation": self.organisation,
        }


@dataclass(frozen=True, slots=True)
class LineError:
    line: int  # as a spreadsheet numbers it: the header is line 1
    column: str | None
    message: str  # a message id, translated where shown


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """What an organiser says of a batch: where it comes from, when, on how many sheets."""

    reference: str
    gathered_on: datetime | None
    sheets: int | None


def parse_batch(
    data: Mapping[str, str], *, tz: str, now: datetime, with_total: bool
) -> tuple[BatchSpec, int] | Errors:
    """A batch's fields clean (and its total, 0 when not asked), or {field: message id}."""
    errors: Errors = {}
    reference, problem = clean_text(data.get("reference", ""), 200, required=True)
    if problem:
        errors["reference"] = problem
    gathered = _day(data.get("gathered_on", ""), tz, now, errors)
    sheets = _number(data.get("sheets", ""), "sheets", 100_000, errors, required=False)
    total = _number(data.get("total", ""), "total", MAX_TOTAL, errors, required=with_total)
    if errors:
        return errors
    return BatchSpec(reference, gathered, sheets), total or 0


def _day(raw: str, tz: str, now: datetime, errors: Errors) -> datetime | None:
    if not raw.strip():
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        errors["gathered_on"] = _("Give a date such as 2027-03-31.")
        return None
    if day > dates.local(now, tz).date():
        errors["gathered_on"] = _("This date is in the future.")
        return None
    return campaigns.opening_instant(day, tz)


def _number(raw: str, field: str, limit: int, errors: Errors, *, required: bool) -> int | None:
    text = raw.strip().replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    if not text:
        if required:
            errors[field] = _("This field is required.")
        return None
    if not text.isdigit() or not 0 < int(text) <= limit:
        errors[field] = _("Give a whole number above zero.")
        return None
    return int(text)


def parse(text: str, required_optional: Iterable[str] = ()) -> list[Row] | list[LineError]:
    """Every row clean, or every problem with its line; `required_optional`: the campaign's
    required fields (role, organisation), as its signing form requires them."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        return [LineError(1, ", ".join(missing), _("These columns are missing."))]
    required = {*REQUIRED, *(set(required_optional) & {"role", "organisation"})}
    rows: list[Row] = []
    errors: list[LineError] = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if number > MAX_ROWS + 1:
            errors.append(LineError(number, None, _("Too many rows: import them in parts.")))
            break
        row = _row(number, dict(zip(header, cells, strict=False)), required, errors)
        if row is not None:
            rows.append(row)
    return errors or rows


def _row(
    number: int, values: dict[str, str], required: set[str], errors: list[LineError]
) -> Row | None:
    before = len(errors)
    texts: dict[str, str] = {}
    for name, limit in FIELD_LIMITS.items():
        value, problem = clean_text(values.get(name, ""), limit, required=name in required)
        if problem:
            errors.append(LineError(number, name, problem))
        texts[name] = value
    publication = publication_choice(values.get("publication", "").strip().lower())
    if publication is None:
        message = _("Give one of: none, name, name_role, name_role_org.")
        errors.append(LineError(number, "publication", message))
    if values.get("consent", "").strip().lower() not in TICKED:
        message = _("No consent ticked on the sheet: this signature cannot be recorded.")
        errors.append(LineError(number, "consent", message))
    if len(errors) > before or publication is None:
        return None
    return Row(
        first_name=texts["first_name"],
        last_name=texts["last_name"],
        role=texts["role"] or None,
        organisation=texts["organisation"] or None,
        publication=publication,
    )


async def listed(session: AsyncSession, campaign_id: int) -> list[PaperBatch]:
    result = await session.execute(
        select(PaperBatch)
        .where(PaperBatch.campaign_id == campaign_id)
        .order_by(PaperBatch.created_at.desc(), PaperBatch.id.desc())
    )
    return list(result.scalars())


async def add_counted(
    session: AsyncSession,
    campaign: Campaign,
    spec: BatchSpec,
    total: int,
    organiser: Organiser,
    now: datetime,
) -> PaperBatch:
    """A total counted on sheets, without names: it adds to the count at once."""
    batch = _batch(campaign, spec, named=False, counted=total, organiser=organiser, now=now)
    session.add(batch)
    await session.flush()
    await _move(session, campaign.id, total)
    details = {"batch": batch.id, "reference": spec.reference}
    await audit.record(session, campaign, organiser, "paper batch", details, total, now)
    return batch


async def add_named(
    session: AsyncSession,
    campaign: Campaign,
    spec: BatchSpec,
    rows: Sequence[Row],
    organiser: Organiser,
    consent_version: str,
    now: datetime,
) -> PaperBatch:
    """Named rows, each a confirmed signature without an address, published by its choice;
    `consent_version`: the label of the privacy notice in force (petition.privacy)."""
    batch = _batch(campaign, spec, named=True, counted=len(rows), organiser=organiser, now=now)
    session.add(batch)
    await session.flush()
    consented = spec.gathered_on or now
    session.add_all(
        Signature(
            campaign_id=campaign.id,
            status=SignatureStatus.CONFIRMED,
            email_hash=None,
            email_domain=None,
            **_names(campaign, row),
            publication=row.publication,
            locale=campaign.language,
            consent_version=consent_version,
            consented_at=consented,
            created_at=now,
            confirmed_at=now,
            paper_batch_id=batch.id,
        )
        for row in rows
    )
    await session.flush()
    await _move(session, campaign.id, len(rows))
    details = {"batch": batch.id, "reference": spec.reference}
    await audit.record(session, campaign, organiser, "paper import", details, len(rows), now)
    return batch


def _names(campaign: Campaign, row: Row) -> dict[str, object]:
    """As signing keeps them (petition.signing): on a sealed campaign, only what is published
    is in clear, and everything typed is in the sealed box."""
    typed = row.typed()
    if campaign.seal_public_key is None:
        return {**typed, "sealed": None, "sealed_key_id": None}
    return {
        **row.publication.shown(typed),
        "sealed": sealing.seal_fields(campaign.seal_public_key, typed),
        "sealed_key_id": campaign.seal_key_id,
    }


def _batch(
    campaign: Campaign,
    spec: BatchSpec,
    *,
    named: bool,
    counted: int,
    organiser: Organiser,
    now: datetime,
) -> PaperBatch:
    return PaperBatch(
        campaign_id=campaign.id,
        reference=spec.reference,
        gathered_on=spec.gathered_on,
        sheets=spec.sheets,
        named=named,
        counted=counted,
        created_at=now,
        created_by=organiser.id,
    )


async def batch_of(
    session: AsyncSession, campaign_id: int, batch_id: int, *, lock: bool = False
) -> PaperBatch | None:
    query = select(PaperBatch).where(
        PaperBatch.id == batch_id, PaperBatch.campaign_id == campaign_id
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def correct(
    session: AsyncSession,
    campaign: Campaign,
    batch: PaperBatch,
    spec: BatchSpec,
    total: int,
    organiser: Organiser,
    now: datetime,
) -> None:
    """A counted batch's reference, date, sheets or total corrected: the count moves by the
    difference. A named batch's total is its rows: only its other fields change."""
    before, before_reference = batch.counted, batch.reference
    after = before if batch.named else total
    batch.reference, batch.gathered_on, batch.sheets = spec.reference, spec.gathered_on, spec.sheets
    batch.counted, batch.corrected_at = after, now  # locked by `batch_of(lock=True)`
    if after != before:
        await _move(session, campaign.id, after - before)
    await session.flush()
    changes.record(session, campaign.id)
    details: dict[str, object] = {"batch": batch.id, "reference": spec.reference}
    if before_reference != spec.reference:
        details["previous_reference"] = before_reference
    details.update(before=before, after=after)
    await audit.record(
        session, campaign, organiser, "paper correction", details, abs(after - before), now
    )


async def delete(
    session: AsyncSession,
    campaign: Campaign,
    batch: PaperBatch,
    organiser: Organiser,
    now: datetime,
) -> int:
    """The batch gone, its part of the count and its named rows with it; how many it counted.

    Deleted rows are journalled (petition.journal): a restore of an older backup deletes them
    again."""
    ids: list[tuple[int, str | None]] = []
    if batch.named:
        found = await session.execute(
            select(Signature.id, Signature.email_hash).where(Signature.paper_batch_id == batch.id)
        )
        ids = [(ident, email_hash) for ident, email_hash in found.all()]
        journal.note(session, journal.DELETION, campaign.id, ids, at=now)
        await retention.delete_signatures(session, [ident for ident, _hash in ids])
    counted = batch.counted
    if counted:
        await _move(session, campaign.id, -counted)
    details = {"batch": batch.id, "reference": batch.reference}
    await session.delete(batch)
    await session.flush()
    changes.record(session, campaign.id)
    await audit.record(session, campaign, organiser, "paper deletion", details, counted, now)
    return counted


async def follow(
    session: AsyncSession, campaign_id: int, signature_ids: Sequence[int], delta: int
) -> None:
    """These signatures stopped (-1) or started again (+1) being counted, as moderation does:
    the paper part of the count, and their batches', follow for those that are paper rows."""
    moved: dict[int, int] = {}
    for start in range(0, len(signature_ids), _CHUNK):
        chunk = signature_ids[start : start + _CHUNK]
        found = await session.execute(
            select(Signature.paper_batch_id, func.count())
            .where(Signature.id.in_(chunk), Signature.paper_batch_id.is_not(None))
            .group_by(Signature.paper_batch_id)
        )
        for batch_id, number in found.all():
            if batch_id is not None:  # never: the query keeps paper rows only
                moved[batch_id] = moved.get(batch_id, 0) + int(number)
    for batch_id, number in moved.items():
        await session.execute(
            update(PaperBatch)
            .where(PaperBatch.id == batch_id)
            .values(counted=PaperBatch.counted + delta * number)
        )
    if moved:
        await _paper_count(session, campaign_id, delta * sum(moved.values()))


async def counted_apart(session: AsyncSession, campaign_id: int) -> int:
    """What counted batches add to the count beyond its confirmed signatures (for the counts
    check, petition.reconcile): named rows are confirmed signatures, counted as such."""
    total = await session.scalar(
        select(func.coalesce(func.sum(PaperBatch.counted), 0)).where(
            PaperBatch.campaign_id == campaign_id, PaperBatch.named.is_(False)
        )
    )
    return int(total or 0)


async def recount(session: AsyncSession, campaign_id: int, apart: int) -> None:
    """Set the paper part of the count, and each named batch's own, from the rows still
    counted (for the counts check): `apart` is what counted batches add."""
    named = dict(
        (
            await session.execute(
                select(Signature.paper_batch_id, func.count())
                .where(
                    Signature.campaign_id == campaign_id,
                    Signature.paper_batch_id.is_not(None),
                    Signature.status == SignatureStatus.CONFIRMED,
                )
                .group_by(Signature.paper_batch_id)
            )
        ).all()
    )
    batches = await session.execute(
        select(PaperBatch.id, PaperBatch.counted).where(
            PaperBatch.campaign_id == campaign_id, PaperBatch.named.is_(True)
        )
    )
    for batch_id, counted in batches.all():
        if counted != named.get(batch_id, 0):
            await session.execute(
                update(PaperBatch)
                .where(PaperBatch.id == batch_id)
                .values(counted=named.get(batch_id, 0))
            )
    paper_count = apart + sum(int(n) for n in named.values())
    changed = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.paper_count != paper_count)
        .values(paper_count=paper_count)
    )
    if db.rowcount(changed):
        changes.record(session, campaign_id)


async def _move(session: AsyncSession, campaign_id: int, delta: int) -> None:
    await counts.add(session, campaign_id, delta)
    await _paper_count(session, campaign_id, delta)


async def _paper_count(session: AsyncSession, campaign_id: int, delta: int) -> None:
    # One statement, not read-then-write: two imports at once both add their part.
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(paper_count=Campaign.paper_count + delta)
    )
    changes.record(session, campaign_id)
