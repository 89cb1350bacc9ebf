"""Exports of verified signatures: streamed row by row, recorded in the audit log before they start.

Memory stays flat whatever the number of rows: the database cursor is read in slices and each
format writes as it reads. Cells that a spreadsheet would evaluate are neutralised in CSV; ODS
cells are typed as text, which spreadsheets never evaluate.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit
from petition.db import SessionFactory
from petition.models import Campaign, Organiser, Signature, SignatureStatus
from petition.ods import stream_ods

FORMATS = ("csv", "ods", "json")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "json": "application/json",
}
COLUMNS = ("first_name", "last_name", "role", "organisation", "publication", "confirmed_at")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SLICE = 1000

Row = tuple[str | int | None, ...]


@dataclass(frozen=True, slots=True)
class ExportFilter:
    status: SignatureStatus = SignatureStatus.CONFIRMED
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> dict[str, object]:
        values = asdict(self)
        return {
            k: (v.isoformat() if isinstance(v, datetime) else str(v))
            for k, v in values.items()
            if v
        }


def neutralise(value: str | int | None) -> str | int | None:
    """Prefix a cell a spreadsheet would take for a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def file_name(campaign: Campaign, fmt: str, now: datetime) -> str:
    return f"{campaign.slug}-signatures-{now:%Y%m%d-%H%M%S}.{fmt}"


def _query(campaign: Campaign, filters: ExportFilter) -> Select[Signature]:
    query = select(Signature).where(
        Signature.campaign_id == campaign.id, Signature.status == filters.status
    )
    stamp = (
        Signature.confirmed_at
        if filters.status is SignatureStatus.CONFIRMED
        else Signature.created_at
    )
    if filters.since is not None:
        query = query.where(stamp >= filters.since)
    if filters.until is not None:
        query = query.where(stamp < filters.until)
    return query.order_by(Signature.id)


async def record(
    session: AsyncSession,
    campaign: Campaign,
    organiser: Organiser | None,
    fmt: str,
    filters: ExportFilter,
    now: datetime,
) -> int:
    """Count the rows and write the audit entry; returns the count."""
    counted = await session.execute(
        select(func.count()).select_from(_query(campaign, filters).subquery())
    )
    rows = int(counted.scalar_one())
    details = {"format": fmt, **filters.describe()}
    await audit.record(session, campaign, organiser, "export", details, rows, now)
    return rows


async def rows(
    sessions: SessionFactory, campaign: Campaign, filters: ExportFilter
) -> AsyncIterator[Row]:
    """The matching signatures, read through a server-side cursor in slices."""
    async with sessions() as session, session.begin():
        result = await session.stream_scalars(
            _query(campaign, filters).execution_options(yield_per=_SLICE)
        )
        async for signature in result:
            yield (
                signature.first_name,
                signature.last_name,
                signature.role,
                signature.organisation,
                signature.publication.value,
                signature.confirmed_at.isoformat() if signature.confirmed_at else None,
            )


def stream(
    fmt: str,
    campaign: Campaign,
    source: AsyncIterator[Row],
    header: Sequence[str],
    *,
    delimiter: str = ",",
) -> AsyncIterator[bytes]:
    if fmt == "csv":
        return _csv(source, header, delimiter)
    if fmt == "json":
        return _json(source)
    return stream_ods(campaign.slug[:31], header, source)


async def _csv(
    source: AsyncIterator[Row], header: Sequence[str], delimiter: str
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    # A byte-order mark: Excel reads UTF-8 only when it sees one; LibreOffice ignores it.
    buffer.write("\ufeff")
    writer.writerow(header)
    async for row in source:
        writer.writerow([neutralise(cell) for cell in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def _json(source: AsyncIterator[Row]) -> AsyncIterator[bytes]:
    chunk = ["["]
    size, separator = 0, ""
    async for row in source:
        item = separator + json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False)
        chunk.append(item)
        size, separator = size + len(item), ",\n"
        if size > 64 * 1024:
            yield "".join(chunk).encode()
            chunk, size = [], 0
    chunk.append("]\n")
    yield "".join(chunk).encode()
