"""Named exports of a sealed campaign: written by the server with the rows still sealed, opened
on a reader's own machine (`petition export open FILE --key KEYFILE`).

The file is JSON: the campaign, every grant of its data keys (each sealed to one reader, so
harmless to carry), and one object per signature with its published fields in clear, its
publication choice and confirmation date, and its sealed box with the data key it was sealed
to. Opening takes the grants made to the reader's key, opens the data keys they hold, then the
boxes: every signer comes back as they typed, or the opening stops and says which rows it could
not open, and why.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select

from petition import readers, sealing
from petition.db import SessionFactory
from petition.exports import ExportFilter, Row, query
from petition.models import Campaign, Publication, Signature

FORMAT = "petition-sealed-export"
VERSION = 1
_SLICE = 1000


async def stream(
    sessions: SessionFactory, campaign: Campaign, filters: ExportFilter, tz: str
) -> AsyncIterator[bytes]:
    """The file, in chunks; the rows are read in slices through a server-side cursor."""
    async with sessions() as session, session.begin():
        grants = await readers.grants(session, campaign.id)
        yield _head(campaign, grants, tz).encode()
        result = await session.stream(_sealed_query(query(campaign, filters)))
        separator, chunk = "", []
        async for signature in result:
            chunk.append(separator + json.dumps(_row_object(*signature), ensure_ascii=False))
            separator = ",\n"
            if len(chunk) >= _SLICE:
                yield "".join(chunk).encode()
                chunk = []
        chunk.append("]}\n")
        yield "".join(chunk).encode()


def _sealed_query(signatures: Select[Any]) -> Select[Any]:
    columns = signatures.with_only_columns(
        Signature.first_name,
        Signature.last_name,
        Signature.role,
        Signature.organisation,
        Signature.publication,
        Signature.confirmed_at,
        Signature.sealed_key_id,
        Signature.sealed,
    )
    return cast("Select[Any]", columns).execution_options(yield_per=_SLICE)


def _head(campaign: Campaign, grants: Iterable[readers.Grant], tz: str) -> str:
    head = {
        "format": FORMAT,
        "version": VERSION,
        "campaign": campaign.slug,
        "time_zone": tz,
        "grants": grant_objects(grants),
    }
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": [\n'


def grant_objects(grants: Iterable[readers.Grant]) -> list[dict[str, object]]:
    """Grants as a sealed export carries them (and the sharing page hands them to the browser)."""
    return [
        {
            "key": grant.campaign_key_id,
            "data_public_key": _b64(grant.data_public_key),
            "reader": _b64(grant.reader_public_key),
            "sealed_secret": _b64(grant.sealed_secret),
        }
        for grant in grants
    ]


def _row_object(
    first: str | None,
    last: str | None,
    role: str | None,
    organisation: str | None,
    publication: Publication,
    confirmed_at: datetime | None,
    key_id: int | None,
    box: bytes | None,
) -> dict[str, object]:
    return {
        "first_name": first,
        "last_name": last,
        "role": role,
        "organisation": organisation,
        "publication": publication.value,
        "confirmed_at": confirmed_at.isoformat() if confirmed_at else None,
        "key": key_id,
        "sealed": _b64(box) if box else None,
    }


@dataclass(frozen=True, slots=True)
class Opened:
    campaign: str
    time_zone: str
    rows: list[Row]


def open_file(text: str, secret_key: bytes) -> Opened:
    """Every row as the signer typed it; SealError says what failed."""
    document = _document(text)
    public = sealing.public_of(secret_key)
    data_keys = _data_keys(document["grants"], public, secret_key)
    rows: list[Row] = []
    unreadable: list[int] = []
    for number, item in enumerate(document["rows"], start=1):
        opened = _open_row(item, data_keys)
        if opened is None:
            unreadable.append(number)
        else:
            rows.append(opened)
    if unreadable:
        raise sealing.SealError(_unreadable(unreadable, bool(data_keys)))
    return Opened(str(document["campaign"]), str(document.get("time_zone") or "UTC"), rows)


def _document(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        raise sealing.SealError("not a sealed export (it is not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise sealing.SealError("not a sealed export of petition")
    if document.get("version") != VERSION:
        raise sealing.SealError("a sealed export of another version (made by a newer petition?)")
    return document


def _data_keys(grants: list[dict[str, Any]], public: bytes, secret: bytes) -> dict[int, bytes]:
    mine = [grant for grant in grants if _unb64(grant["reader"]) == public]
    if not mine:
        raise sealing.SealError(
            f"this key ({sealing.fingerprint(public)}) is not a reader of this campaign"
        )
    return {
        int(grant["key"]): sealing.open_grant(secret, _unb64(grant["sealed_secret"]))
        for grant in mine
    }


def _open_row(item: dict[str, Any], data_keys: dict[int, bytes]) -> Row | None:
    confirmed = item.get("confirmed_at")
    moment = datetime.fromisoformat(confirmed) if confirmed else None
    fields = {field: item.get(field) for field in sealing.FIELDS}
    if item.get("sealed"):
        key = data_keys.get(int(item["key"])) if item.get("key") is not None else None
        if key is None:
            return None
        try:
            fields = sealing.unseal_fields(key, _unb64(item["sealed"]))
        except sealing.SealError:
            return None
    return (
        fields["first_name"],
        fields["last_name"],
        fields["role"],
        fields["organisation"],
        str(item["publication"]),
        moment,
    )


def _unreadable(numbers: list[int], some_key: bool) -> str:
    shown = ", ".join(str(n) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
    why = (
        "sealed under a data key this key holds no grant for (signed while it was not a"
        " reader), or altered"
        if some_key
        else "altered"
    )
    return f"{len(numbers)} row(s) do not open ({shown}): {why}; nothing was written"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: object) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise sealing.SealError("this export is cut or altered") from None
