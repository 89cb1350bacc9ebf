"""The streaming ODS writer: files that read back as written, in constant memory."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import shutil
import struct
import tracemalloc
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import pytest

from petition.ods import CHUNK_SIZE, MEDIA_TYPE, stream_ods

NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}

HEADER = ["Prénom", "Nom", "Ville", "Rang", "Commentaire"]
ROWS: list[list[str | int | None]] = [
    ["Zoé", "Lefèvre", "Saint-Étienne", 1, None],
    ["<script>", 'O\'Brien & "fils"', "a > b", 42, '=HYPERLINK("http://x")'],
    ["Bell\x07e", "Nul\x00l", "\ufffe", -3, "+33 1 23 45 67 89"],
    ["", None, "Ναύπλιο 🏛", 0, "@SUM(A1)"],
]
# What a reader must find: the characters XML 1.0 forbids are dropped, nothing else changes.
EXPECTED: list[list[str | int | None]] = [
    ["Zoé", "Lefèvre", "Saint-Étienne", 1, None],
    ["<script>", 'O\'Brien & "fils"', "a > b", 42, '=HYPERLINK("http://x")'],
    ["Belle", "Null", "", -3, "+33 1 23 45 67 89"],
    ["", None, "Ναύπλιο 🏛", 0, "@SUM(A1)"],
]

Cell = tuple[str | None, str | None, str]  # value type, office:value, text


def _parse(xml: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(xml)  # noqa: S314  # our own output, not untrusted input


async def _aiter(rows: Sequence[Sequence[Any]]) -> AsyncIterator[Sequence[Any]]:
    for row in rows:
        yield row


async def _ods(sheet: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    return b"".join([chunk async for chunk in stream_ods(sheet, header, _aiter(rows))])


def _text(element: ElementTree.Element) -> str:
    """A cell's text as a spreadsheet shows it: <text:s/>, <text:tab/>, one line a paragraph."""
    lines = []
    for paragraph in element.findall("text:p", NS):
        parts = [paragraph.text or ""]
        for child in paragraph:
            if child.tag == f"{{{NS['text']}}}s":
                parts.append(" " * int(child.get(f"{{{NS['text']}}}c", "1")))
            elif child.tag == f"{{{NS['text']}}}tab":
                parts.append("\t")
            parts.append(child.tail or "")
        lines.append("".join(parts))
    return "\n".join(lines)


def _table(data: bytes) -> tuple[str, list[list[Cell]], ElementTree.Element]:
    """The sheet's name, its rows of typed cells, and the content.xml root."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = _parse(archive.read("content.xml"))
    (table,) = root.iterfind(".//table:table", NS)
    rows = [
        [
            (
                cell.get(f"{{{NS['office']}}}value-type"),
                cell.get(f"{{{NS['office']}}}value"),
                _text(cell),
            )
            for cell in row.iterfind("table:table-cell", NS)
        ]
        for row in table.iterfind("table:table-row", NS)
    ]
    return table.get(f"{{{NS['table']}}}name", ""), rows, root


def _typed(value: str | int | None) -> Cell:
    if value is None:
        return (None, None, "")
    if isinstance(value, int):
        return ("float", str(value), str(value))
    return ("string", None, value)


async def test_round_trip() -> None:
    data = await _ods("Signatures", HEADER, ROWS)

    name, rows, _root = _table(data)
    assert name == "Signatures"
    assert rows == [[_typed(v) for v in HEADER]] + [[_typed(v) for v in row] for row in EXPECTED]
    # A formula-looking value is a string cell with its text unchanged: never evaluated.
    assert rows[2][4] == ("string", None, '=HYPERLINK("http://x")')

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        first = archive.infolist()[0]
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
        assert archive.read("mimetype") == MEDIA_TYPE.encode()
        manifest = _parse(archive.read("META-INF/manifest.xml"))
        _parse(archive.read("styles.xml"))  # well-formed
        _parse(archive.read("meta.xml"))
    paths = {
        entry.get(f"{{{NS['manifest']}}}full-path"): entry.get(f"{{{NS['manifest']}}}media-type")
        for entry in manifest.iterfind("manifest:file-entry", NS)
    }
    assert paths["/"] == MEDIA_TYPE
    assert paths["content.xml"] == "text/xml"


async def test_mimetype_is_readable_at_a_fixed_offset() -> None:
    # What file-type sniffers read, and what LibreOffice (24.8 on) insists on: the media type
    # right after the first local header, sizes in that header, no extra field and no data
    # descriptor (a stored entry followed by one makes LibreOffice call the file corrupt).
    data = await _ods("S", ["a"], [["b"]])
    signature, _version, flags, method = struct.unpack_from("<4s3H", data)
    crc, compressed, size, name_length, extra_length = struct.unpack_from("<3L2H", data, 14)
    assert signature == b"PK\x03\x04"
    assert method == 0
    assert not flags & 0x08
    assert (compressed, size, name_length, extra_length) == (len(MEDIA_TYPE),) * 2 + (8, 0)
    assert data[30:38] == b"mimetype"
    assert data[38 : 38 + len(MEDIA_TYPE)] == MEDIA_TYPE.encode()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("mimetype")
        assert crc == info.CRC
        assert not info.flag_bits & 0x08  # the central directory agrees


async def test_spaces_tabs_and_line_breaks_survive() -> None:
    values = ["two  spaces", " leading", "trailing ", "a\tb", "one\ntwo\r\nthree\rfour", "   "]
    _name, rows, _root = _table(await _ods("S", ["v"], [[v] for v in values]))
    expected = [v.replace("\r\n", "\n").replace("\r", "\n") for v in values]
    assert [row[0][2] for row in rows[1:]] == expected


async def test_header_row_is_bold() -> None:
    _name, _rows, root = _table(await _ods("S", ["a", "b"], [["c", "d"]]))
    styles = {
        style.get(f"{{{NS['style']}}}name"): style
        for style in root.iterfind("office:automatic-styles/style:style", NS)
    }
    (table,) = root.iterfind(".//table:table", NS)
    header, body = table.iterfind("table:table-row", NS)
    for cell in header.iterfind("table:table-cell", NS):
        style = styles[cell.get(f"{{{NS['table']}}}style-name")]
        text = style.find("style:text-properties", NS)
        assert text is not None and text.get(f"{{{NS['fo']}}}font-weight") == "bold"
    assert all(
        cell.get(f"{{{NS['table']}}}style-name") is None
        for cell in body.iterfind("table:table-cell", NS)
    )


async def test_datetimes_are_date_cells_showing_the_date_and_time_to_the_second() -> None:
    moment = datetime(2026, 12, 1, 10, 15, 42, 654321)
    _name, rows, root = _table(await _ods("S", ["when", "n"], [[moment, 1]]))
    (table,) = root.iterfind(".//table:table", NS)
    _header, body = table.iterfind("table:table-row", NS)
    cell = body.find("table:table-cell", NS)
    assert cell is not None
    assert cell.get(f"{{{NS['office']}}}value-type") == "date"
    assert cell.get(f"{{{NS['office']}}}date-value") == "2026-12-01T10:15:42"
    assert rows[1] == [("date", None, "2026-12-01 10:15:42"), ("float", "1", "1")]
    styles = {
        style.get(f"{{{NS['style']}}}name"): style
        for style in root.iterfind("office:automatic-styles/*", NS)
    }
    style = styles[cell.get(f"{{{NS['table']}}}style-name")]
    shape = styles[style.get(f"{{{NS['style']}}}data-style-name")]
    assert shape.tag == f"{{{NS['number']}}}date-style"
    text = f"{{{NS['number']}}}text"
    parts = [e.text if e.tag == text else e.tag.rpartition("}")[2] for e in shape]
    assert parts == ["year", "-", "month", "-", "day", " ", "hours", ":", "minutes", ":", "seconds"]
    # Two digits each (four for the year): 2026-12-01 09:05:02, not 2026-12-1 9:5:2.
    assert {e.get(f"{{{NS['number']}}}style") for e in shape if e.tag != text} == {"long"}


async def test_an_aware_datetime_is_written_as_its_own_wall_clock_time() -> None:
    # ODF dates have no zone: the caller converts to the reader's; nothing is shifted here.
    moment = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    _name, rows, _root = _table(await _ods("S", ["when"], [[moment]]))
    assert rows[1] == [("date", None, "2026-12-01 23:30:00")]


async def test_columns_are_wide_enough_for_a_date_and_time() -> None:
    # Narrower than about 3.5 cm, spreadsheets show ### instead of "2026-12-01 10:15:42".
    _name, _rows, root = _table(await _ods("S", ["a", "b"], [[datetime(2026, 12, 1), "x"]]))
    (column,) = root.iterfind(".//table:table/table:table-column", NS)
    assert column.get(f"{{{NS['table']}}}number-columns-repeated") == "2"
    widths = {
        style.get(f"{{{NS['style']}}}name"): properties.get(f"{{{NS['style']}}}column-width")
        for style in root.iterfind("office:automatic-styles/style:style", NS)
        for properties in style.iterfind("style:table-column-properties", NS)
    }
    width = widths[column.get(f"{{{NS['table']}}}style-name")]
    assert width is not None and width.endswith("cm") and float(width[:-2]) >= 3.5


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ('Pétition "Sauvons" & <co>', 'Pétition "Sauvons" & <co>'),
        ("a/b\\c:d*e?f[g]", "a-b-c-d-e-f-g-"),
        ("x" * 40, "x" * 31),  # longer names are refused by Excel
        ("\x01 ", "Sheet1"),
        ("tab\there\nnewline", "tab here newline"),
    ],
)
async def test_sheet_name_is_escaped_and_made_acceptable(given: str, written: str) -> None:
    name, _rows, _root = _table(await _ods(given, ["a"], []))
    assert name == written


@pytest.mark.parametrize("value", [True, 1.5, b"bytes", date(2026, 12, 1)])
async def test_values_of_other_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError):
        await _ods("S", ["a"], [[value]])


async def test_consumer_may_stop_early() -> None:
    # A browser that disconnects closes the stream mid-way: closing must not raise.
    rows = [[f"row {n}", hashlib.sha256(bytes(n)).hexdigest()] for n in range(20_000)]
    stream = stream_ods("S", ["a", "b"], _aiter(rows))
    first = await anext(stream)
    assert isinstance(stream, AsyncGenerator)  # what the server closes when the client leaves
    await stream.aclose()
    assert first.startswith(b"PK\x03\x04")


async def test_failure_of_the_source_reaches_the_consumer() -> None:
    async def rows() -> AsyncIterator[Sequence[str]]:
        yield ["one"]
        raise LookupError("database went away")

    with pytest.raises(LookupError, match="database went away"):
        async for _chunk in stream_ods("S", ["a"], rows()):
            pass


async def test_libreoffice_reads_it(tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    source = tmp_path / "export.ods"
    source.write_bytes(await _ods("Signatures", HEADER, ROWS))
    process = await asyncio.create_subprocess_exec(
        soffice,
        "--headless",
        f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
        # Filter options: comma, double quote, UTF-8 (76).
        "--convert-to",
        "csv:Text - txt - csv (StarCalc):44,34,76",
        "--outdir",
        str(tmp_path),
        str(source),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    converted = tmp_path / "export.csv"
    # soffice exits 0 even when it cannot load the file: the CSV is the proof.
    assert converted.exists(), output.decode(errors="replace")
    table = list(csv.reader(io.StringIO(converted.read_text(encoding="utf-8"), newline="")))
    expected = [HEADER] + [["" if v is None else str(v) for v in row] for row in EXPECTED]
    assert table == expected


ROW_COUNT = 200_000


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator[IO[bytes]]:
    # Opened before the measurement starts, so its buffer is not counted.
    with (tmp_path / "big.ods").open("w+b") as handle:
        yield handle


async def test_streams_in_constant_memory(big_file: IO[bytes]) -> None:
    chunks_received = 0
    chunks_at_half: int | None = None

    async def rows() -> AsyncIterator[Sequence[str | int | None]]:
        nonlocal chunks_at_half
        for n in range(ROW_COUNT):
            if n == ROW_COUNT // 2:
                chunks_at_half = chunks_received
            # A digest per row keeps the output from compressing to almost nothing, so that
            # holding the whole compressed file would show in the measurement too.
            digest = hashlib.sha256(n.to_bytes(4, "big")).hexdigest()
            yield [n, f"{digest[:12]}@example.org", digest, "Île-de-France", None]

    sizes: list[int] = []
    tracemalloc.start()
    try:
        async for chunk in stream_ods("Signatures", ["n", "email", "token", "region", "x"], rows()):
            chunks_received += 1
            sizes.append(len(chunk))
            big_file.write(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    total = sum(sizes)
    big_file.seek(0)
    with zipfile.ZipFile(big_file) as archive:
        content_size = archive.getinfo("content.xml").file_size
        assert archive.testzip() is None
        assert _count_rows(archive) == ROW_COUNT + 1
    # Measured (CPython 3.11): peak 0.65 MiB, for 9.9 MiB of output holding 97 MiB of XML.
    # Holding the compressed output would take 9.9 MiB, holding the XML far more; 4 MiB is
    # well under both and leaves six times the measured peak for buffers that vary between
    # Python versions.
    assert total > 8 * 2**20 and content_size > 80 * 2**20
    assert peak < 4 * 2**20, f"peak {peak} bytes for {total} bytes of output"
    # Chunks are handed out as they are ready, not at the end, and they stay small.
    assert chunks_at_half is not None and chunks_at_half > 10
    assert max(sizes) <= 2 * CHUNK_SIZE


def _count_rows(archive: zipfile.ZipFile) -> int:
    """Rows in content.xml, read a block at a time rather than parsed whole."""
    marker = b"<table:table-row"
    count = 0
    tail = b""
    with archive.open("content.xml") as content:
        while block := content.read(2**20):
            window = tail + block
            count += window.count(marker)
            # Keep an incomplete marker for the next block, never a complete one.
            tail = window[-(len(marker) - 1) :]
    return count
