"""Exports of verified signatures: streamed row by row, recorded in the audit log before they start.

Memory stays flat whatever the number of rows: the database cursor is read in slices and each
format writes as it reads. Cells that a spreadsheet would evaluate are neutralised in CSV; ODS
cells are typed as text, which spreadsheets never evaluate.

CSV and ODS are read by people, in a spreadsheet: the header and the publication choice come in
the organiser's language (the words the signers chose from), and dates in the campaign's time
zone, to the second (`2026-12-01 10:15:42`, which spreadsheets read as a date; real date cells in
ODS). JSON is read by programs, and its shape stays the same whatever the language: one object
per signature with the keys of COLUMNS; `publication` is the stored code (`none`, `name`,
`name_role`, `name_role_org`), which neither a translation nor a reworded form changes;
`confirmed_at` is ISO 8601 with the campaign's UTC offset, to the second, or null when pending.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from petition import audit
from petition.db import SessionFactory
from petition.forms import PUBLICATION_LABELS
from petition.models import Campaign, Organiser, Publication, Signature, SignatureStatus
from petition.ods import Cell, stream_ods

FORMATS = ("csv", "ods", "json")
MEDIA_TYPES = {
    "csv": "text/csv",  # Litestar adds "; charset=utf-8" to text/ types
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "json": "application/json",
}
COLUMNS = ("first_name", "last_name", "role", "organisation", "publication", "confirmed_at")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SLICE = 1000

# first name, last name, role, organisation, publication code, confirmed at (UTC)
Row = tuple[str | None, str | None, str | None, str | None, str, datetime | None]


@dataclass(frozen=True, slots=True)
class Layout:
    """What the reader of a file is given: its header, publication labels, the dates' zone."""

    header: Sequence[str]
    publication: Mapping[str, str]  # stored code -> what the cell says
    tz: ZoneInfo
    delimiter: str = ","


def for_people(
    translate: Callable[[str], str], header: Sequence[str], tz: str, *, delimiter: str = ","
) -> Layout:
    """Header and publication choices in the reader's words; the last column names the zone."""
    names = [translate(label) for label in header]
    # Dates (the last column, as in COLUMNS) are the campaign's wall clock, which need not be
    # the reader's: say whose.
    names[-1] = f"{names[-1]} ({tz})"
    labels = {code: translate(label) for code, label in PUBLICATION_LABELS.items()}
    return Layout(names, labels, ZoneInfo(tz), delimiter)


def for_programs(tz: str) -> Layout:
    """Column names and stored codes, as in JSON: for scripts (the command line)."""
    return Layout(COLUMNS, {p.value: p.value for p in Publication}, ZoneInfo(tz))


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


def neutralise(value: str | None) -> str | None:
    """Prefix a cell a spreadsheet would take for a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def file_name(campaign: Campaign, fmt: str, now: datetime) -> str:
    return f"{campaign.slug}-signatures-{now:%Y%m%d-%H%M%S}.{fmt}"


def query(campaign: Campaign, filters: ExportFilter) -> Select[Signature]:
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
    approved_by: str | None = None,
) -> int:
    """Count the rows and write the audit entry; returns the count."""
    counted = await session.execute(
        select(func.count()).select_from(query(campaign, filters).subquery())
    )
    rows = int(counted.scalar_one())
    details = {"format": fmt, **filters.describe()}
    if approved_by is not None:
        details["approved_by"] = approved_by
    await audit.record(session, campaign, organiser, "export", details, rows, now)
    return rows


async def rows(
    sessions: SessionFactory, campaign: Campaign, filters: ExportFilter
) -> AsyncIterator[Row]:
    """The matching signatures, read through a server-side cursor in slices."""
    async with sessions() as session, session.begin():
        result = await session.stream_scalars(
            query(campaign, filters).execution_options(yield_per=_SLICE)
        )
        async for signature in result:
            yield (
                signature.first_name,
                signature.last_name,
                signature.role,
                signature.organisation,
                signature.publication.value,
                signature.confirmed_at,
            )


def stream(
    fmt: str, campaign: Campaign, source: AsyncIterator[Row], layout: Layout
) -> AsyncIterator[bytes]:
    return stream_named(fmt, campaign.slug, source, layout)


def stream_named(
    fmt: str, slug: str, source: AsyncIterator[Row], layout: Layout
) -> AsyncIterator[bytes]:
    """The file of a campaign named `slug` (an ODS sheet's name)."""
    if fmt == "csv":
        return _csv(source, layout)
    if fmt == "json":
        return _json(source, layout.tz)
    return stream_ods(slug[:31], layout.header, _for_ods(source, layout))


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    # The campaign's wall clock, to the second: microseconds mean nothing to a reader.
    return moment.astimezone(tz).replace(microsecond=0) if moment else None


async def _for_ods(source: AsyncIterator[Row], layout: Layout) -> AsyncIterator[list[Cell]]:
    async for *names, publication, confirmed_at in source:
        yield [
            *names,
            layout.publication.get(publication, publication),
            _local(confirmed_at, layout.tz),
        ]


async def _csv(source: AsyncIterator[Row], layout: Layout) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=layout.delimiter, lineterminator="\r\n")
    # A byte-order mark: Excel reads UTF-8 only when it sees one; LibreOffice ignores it.
    buffer.write("\ufeff")
    writer.writerow(layout.header)
    async for *names, publication, confirmed_at in source:
        local = _local(confirmed_at, layout.tz)
        writer.writerow(
            [
                *(neutralise(cell) for cell in names),
                layout.publication.get(publication, publication),
                # Spreadsheets read this as a date and time; an ISO string with "T" and an
                # offset stays text there.
                f"{local:%Y-%m-%d %H:%M:%S}" if local else None,
            ]
        )
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def _json(source: AsyncIterator[Row], tz: ZoneInfo) -> AsyncIterator[bytes]:
    chunk = ["["]
    size, separator = 0, ""
    async for *values, confirmed_at in source:
        local = _local(confirmed_at, tz)
        row = [*values, local.isoformat() if local else None]
        item = separator + json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False)
        chunk.append(item)
        size, separator = size + len(item), ",\n"
        if size > 64 * 1024:
            yield "".join(chunk).encode()
            chunk, size = [], 0
    chunk.append("]\n")
    yield "".join(chunk).encode()
