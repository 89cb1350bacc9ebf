"""Streaming writer for OpenDocument Spreadsheet (.ods) files, standard library only.

Organisers export lists of signatures that may hold hundreds of thousands of rows, and the
HTTP layer streams the file as it is produced: memory must stay flat whatever the number of
rows. An .ods file is a ZIP archive, so `zipfile.ZipFile` writes it into `_Sink`, a
non-seekable file-like object whose bytes are handed out and forgotten batch by batch.
On a non-seekable file zipfile cannot go back to fill in an entry's size and CRC, so it
follows each entry with a data descriptor instead; the spreadsheet itself, `content.xml`, is
deflated and written row by row that way.

Only the first entry, `mimetype`, is patched: LibreOffice (since 24.8) refuses a STORED entry
followed by a data descriptor as corrupt, and the OpenDocument package format wants that entry
readable at a fixed offset by tools that sniff file types. Its size is known and nothing has
been handed out when it is written, so its header is completed in place instead.

Strings are written as typed string cells, which spreadsheet applications never evaluate as
formulas: unlike CSV, a value such as `=HYPERLINK(...)` needs no neutralising here. Datetimes
are written as date cells, so that a spreadsheet sorts, filters and computes with them.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape

__all__ = ["MEDIA_TYPE", "Cell", "stream_ods"]

MEDIA_TYPE = "application/vnd.oasis.opendocument.spreadsheet"

# Bytes gathered before a chunk is yielded, and characters of XML gathered before they are
# handed to the compressor: large enough that per-call overhead stays negligible, small
# enough that memory does not depend on the number of rows.
CHUNK_SIZE = 64 * 1024

_ODF_VERSION = "1.2"  # 1.2 rather than 1.3: read by every office suite still in use
_HEADER_STYLE = "ce1"
_DATE_TIME_STYLE = "ce2"
_COLUMN_STYLE = "co1"
# Spreadsheets show ### for a date too wide for its column, and a date and time to the second
# is wider than their default column (2.26 cm): every column gets room for one.
_COLUMN_WIDTH = "4cm"

# Characters XML 1.0 forbids even as character references (most C0 controls, lone
# surrogates, U+FFFE and U+FFFF): a parser rejects the whole file if one slips in.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# In ODF text, runs of spaces collapse and leading or trailing spaces are dropped, so such
# spaces are written as <text:s/>; single spaces between words can stay as they are.
_SPACES = re.compile("^ +| +$| {2,}")
_LINE_BREAK = re.compile("\r\n|\r|\n")
# Any character that must be dropped, escaped or turned into an element (C0 controls, tab and
# line breaks, & < >): most values have none and skip that work (exports run to millions of
# cells, so this is the hot path).
_SPECIAL = re.compile("[^\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Characters spreadsheet applications refuse in a sheet name.
_NOT_SHEET_NAME = re.compile(r"[\[\]*?:/\\]")
_SHEET_NAME_MAX = 31  # longest sheet name Excel accepts

_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"'
)
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

_MANIFEST = f"""{_XML_DECLARATION}\
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" \
manifest:version="{_ODF_VERSION}">
 <manifest:file-entry manifest:full-path="/" manifest:version="{_ODF_VERSION}" \
manifest:media-type="{MEDIA_TYPE}"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
 <manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>
 <manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""

_STYLES = f'{_XML_DECLARATION}<office:document-styles {_NS} office:version="{_ODF_VERSION}"/>\n'

_CONTENT_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>\n"

Cell = str | int | datetime | None

# How date cells read: 2026-12-01 10:15:42, whatever the reader's locale (unambiguous, and
# what the CSV export writes too); the cell holds the date itself, which a reader may reformat.
_DATE_TIME_FORMAT = (
    '<number:date-style style:name="N1">'
    '<number:year number:style="long"/><number:text>-</number:text>'
    '<number:month number:style="long"/><number:text>-</number:text>'
    '<number:day number:style="long"/><number:text> </number:text>'
    '<number:hours number:style="long"/><number:text>:</number:text>'
    '<number:minutes number:style="long"/><number:text>:</number:text>'
    '<number:seconds number:style="long"/>'
    "</number:date-style>"
)

# Layout of a ZIP local file header and of the data descriptor that may follow an entry
# (APPNOTE.TXT 4.3.7 and 4.3.9).
_LOCAL_HEADER = struct.Struct("<4s2H")  # signature, version needed, flags
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_LOCAL_HEADER_CRC_OFFSET = 14  # then compressed size and size, 4 bytes each
_DATA_DESCRIPTOR = struct.Struct("<4sLLL")  # signature, CRC, compressed size, size
_DATA_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_FLAG_DATA_DESCRIPTOR = 0x08


class _Sink:
    """Non-seekable binary file for zipfile, whose written bytes are taken out by `drain`.

    It keeps an absolute position for `tell()`: zipfile records it as each entry's offset in
    the central directory, so it must count the bytes already drained too.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Refusing here is how zipfile learns that it must use data descriptors.
        raise io.UnsupportedOperation("seek")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pending(self) -> int:
        return len(self._buffer)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def complete_first_entry(self, info: zipfile.ZipInfo) -> None:
        """Move the CRC and sizes of the only entry written so far into its local header.

        The entry's data descriptor is removed and its flag cleared, in the local header and
        (through `info`, which zipfile writes in the central directory at the end) in the
        central directory, so the entry reads as if zipfile had been able to seek.
        """
        buffer = self._buffer
        signature, _version, flags = _LOCAL_HEADER.unpack_from(buffer)
        descriptor = len(buffer) - _DATA_DESCRIPTOR.size
        if (
            self._position != len(buffer)
            or signature != _LOCAL_HEADER_SIGNATURE
            or not flags & _FLAG_DATA_DESCRIPTOR
            or _DATA_DESCRIPTOR.unpack_from(buffer, descriptor)
            != (_DATA_DESCRIPTOR_SIGNATURE, info.CRC, info.compress_size, info.file_size)
        ):
            raise RuntimeError("unexpected layout of the first ZIP entry")
        flags &= ~_FLAG_DATA_DESCRIPTOR
        struct.pack_into("<H", buffer, 6, flags)
        struct.pack_into(
            "<3L", buffer, _LOCAL_HEADER_CRC_OFFSET, info.CRC, info.compress_size, info.file_size
        )
        del buffer[descriptor:]
        self._position = len(buffer)
        info.flag_bits = flags


async def stream_ods(
    sheet_name: str, header: Sequence[str], rows: AsyncIterable[Sequence[Cell]]
) -> AsyncIterator[bytes]:
    """Yield the bytes of an .ods file containing one sheet, row by row.

    The sheet holds `header` in bold, then one row per item of `rows`: strings become string
    cells, ints number cells, datetimes date cells (their wall-clock time, to the second: an ODF
    date has no time zone, so convert them to the reader's first), None empty cells. Chunks of
    about `CHUNK_SIZE` bytes are yielded as soon as they are ready; memory use does not grow
    with the number of rows.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_mimetype(archive, sink)
        archive.writestr("META-INF/manifest.xml", _MANIFEST)
        archive.writestr("styles.xml", _STYLES)
        archive.writestr("meta.xml", _meta())
        # force_zip64: the size of content.xml is unknown when its header is written, and
        # zipfile must reserve room for sizes beyond 4 GiB there or fail on reaching them.
        with archive.open("content.xml", "w", force_zip64=True) as content:
            pending = [_content_head(sheet_name, header)]
            size = len(pending[0])
            async for row in rows:
                xml = _row(row)
                pending.append(xml)
                size += len(xml)
                if size >= CHUNK_SIZE:
                    content.write("".join(pending).encode())
                    pending.clear()
                    size = 0
                    if sink.pending() >= CHUNK_SIZE:
                        yield sink.drain()
            pending.append(_CONTENT_TAIL)
            content.write("".join(pending).encode())
    yield sink.drain()


def _write_mimetype(archive: zipfile.ZipFile, sink: _Sink) -> None:
    # First and stored, so that the media type can be read at offset 38 of the file.
    now = time.localtime()  # ZIP timestamps are local time, like those zipfile gives the others
    date_time = (now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec)
    info = zipfile.ZipInfo("mimetype", date_time=date_time)
    info.compress_type = zipfile.ZIP_STORED
    archive.writestr(info, MEDIA_TYPE)
    if info.flag_bits & _FLAG_DATA_DESCRIPTOR:
        sink.complete_first_entry(info)


def _meta() -> str:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'{_XML_DECLARATION}<office:document-meta {_NS} office:version="{_ODF_VERSION}">'
        f"<office:meta><meta:generator>petition</meta:generator>"
        f"<meta:creation-date>{created}</meta:creation-date></office:meta>"
        "</office:document-meta>\n"
    )


def _content_head(sheet_name: str, header: Sequence[str]) -> str:
    """Everything in content.xml up to and including the header row."""
    name = _attribute(_valid_sheet_name(sheet_name))
    columns = max(len(header), 1)
    return (
        f'{_XML_DECLARATION}<office:document-content {_NS} office:version="{_ODF_VERSION}">'
        "<office:automatic-styles>"
        f'<style:style style:name="{_COLUMN_STYLE}" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{_COLUMN_WIDTH}"/></style:style>'
        f'<style:style style:name="{_HEADER_STYLE}" style:family="table-cell">'
        '<style:text-properties fo:font-weight="bold" style:font-weight-asian="bold" '
        'style:font-weight-complex="bold"/></style:style>'
        f"{_DATE_TIME_FORMAT}"
        f'<style:style style:name="{_DATE_TIME_STYLE}" style:family="table-cell" '
        'style:data-style-name="N1"/>'
        "</office:automatic-styles>"
        f'<office:body><office:spreadsheet><table:table table:name="{name}">'
        f'<table:table-column table:style-name="{_COLUMN_STYLE}" '
        f'table:number-columns-repeated="{columns}"/>\n'
        f"{_row(header, style=_HEADER_STYLE)}"
    )


def _valid_sheet_name(name: str) -> str:
    # Line breaks and tabs have no place in a tab's label: any run of white space becomes one space.
    name = " ".join(_NOT_SHEET_NAME.sub("-", _NOT_XML.sub("", name)).split()).strip("'")
    return name[:_SHEET_NAME_MAX] or "Sheet1"


def _attribute(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _row(cells: Sequence[Cell], style: str | None = None) -> str:
    styled = f' table:style-name="{style}"' if style else ""
    cells_xml = "".join(_cell(value, styled) for value in cells)
    return f"<table:table-row>{cells_xml}</table:table-row>\n"


def _cell(value: Cell, styled: str = "") -> str:
    if value is None:
        return f"<table:table-cell{styled}/>"
    if isinstance(value, bool):  # an int to the type checker, but "True" is no number
        raise TypeError("bool cell values are not supported")
    if isinstance(value, int):
        return (
            f'<table:table-cell{styled} office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    if isinstance(value, str):
        return (
            f'<table:table-cell{styled} office:value-type="string">'
            f"{_paragraphs(value)}</table:table-cell>"
        )
    if isinstance(value, datetime):
        # Always the date-time style: without it, a spreadsheet shows the day but not the time.
        shown = f"{value:%Y-%m-%d %H:%M:%S}"
        return (
            f'<table:table-cell table:style-name="{_DATE_TIME_STYLE}" office:value-type="date" '
            f'office:date-value="{value:%Y-%m-%dT%H:%M:%S}"><text:p>{shown}</text:p>'
            "</table:table-cell>"
        )
    raise TypeError(f"unsupported cell value type: {type(value).__name__}")


def _paragraphs(text: str) -> str:
    """The text as <text:p> elements, escaped, keeping line breaks, tabs and spaces."""
    if not (_SPECIAL.search(text) or _needs_spaces(text)):
        return f"<text:p>{text}</text:p>"
    text = _NOT_XML.sub("", text)
    return "".join(f"<text:p>{_inline(line)}</text:p>" for line in _LINE_BREAK.split(text))


def _inline(line: str) -> str:
    line = escape(line)
    if _needs_spaces(line):
        line = _SPACES.sub(lambda run: f'<text:s text:c="{len(run[0])}"/>', line)
    return line.replace("\t", "<text:tab/>")


def _needs_spaces(text: str) -> bool:
    return "  " in text or text.startswith(" ") or text.endswith(" ")
