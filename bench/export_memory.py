"""Export memory: does exporting a large campaign stream with bounded server memory?

Seeds N confirmed signatures straight into the database, starts a real `petition serve`, signs
in as the campaign's owner over HTTP and downloads the export in each format, sampling the
server's resident memory every 50 ms. See bench/README.md.

    .venv/bin/python bench/export_memory.py [--signatures N] [--formats csv,ods,json]
        [--database-url URL] [--duration-limit SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import sign_throughput as st  # its directory is first on sys.path when this runs as a script
from sqlalchemy import insert, select, update

from petition.db import create_engine
from petition.models import Campaign, CounterShard, Publication, Signature, SignatureStatus

FORMATS = ("csv", "ods", "json")
BATCH = 5000  # rows per INSERT and commit: few round trips, little memory in the bench itself
SAMPLE_INTERVAL = 0.05
EMAIL = "owner@example.org"
PASSWORD = "bench-" + "password" * 2  # a throw-away account in a throw-away database
EXPORT_PATH = f"/dashboard/c/{st.SLUG}/export"
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
_VM_LINE = re.compile(r"^(VmRSS|VmHWM):\s+(\d+) kB$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ExportResult:
    format: str
    bytes: int
    rows_counted: int | None  # CSV lines minus the header, JSON objects; None for ODS
    well_formed: bool  # rows as seeded, and the file starts and ends as its format wants
    first_byte_seconds: float
    total_seconds: float
    rows_per_second: int
    rss_before_kib: int
    rss_peak_kib: int
    rss_increase_kib: int  # peak during this export minus the baseline before the first one
    server_cpu_share: float | None  # server CPU seconds / export seconds (1.0 = one core busy)


@dataclass(frozen=True, slots=True)
class Report:
    revision: str
    database: str
    database_version: str
    machine: str
    signatures: int
    seed_seconds: float
    exports_require_2fa: bool  # False: the bench signs in with a password only
    baseline_rss_kib: int
    exports: list[ExportResult]
    server_hwm_kib: int  # VmHWM at the end: the highest RSS in the server's whole life
    server_log_problems: list[str]


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    return st.conclude(
        lambda: run(options, deadline=time.monotonic() + options.duration_limit),
        print_report,
        options.json,
        stopped="server stopped",
        ok=lambda r: all(e.well_formed for e in r.exports),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the server memory of exports.")
    parser.add_argument("--signatures", type=int, default=200_000, metavar="N")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated, in order")
    parser.add_argument(
        "--database-url",
        help="postgresql://… on loopback (ITS public SCHEMA IS WIPED), or sqlite:///… of a file "
        "that does not exist yet; default: SQLite in a fresh temporary directory",
    )
    parser.add_argument("--duration-limit", type=float, default=600.0, metavar="SECONDS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    options.formats = [f.strip() for f in options.formats.split(",") if f.strip()]
    if not options.formats or set(options.formats) - set(FORMATS):
        parser.error(f"--formats takes some of {', '.join(FORMATS)}")
    if options.signatures < 1 or options.duration_limit <= 0:
        parser.error("--signatures and --duration-limit must be positive")
    return options


def run(options: argparse.Namespace, deadline: float) -> Report:
    # ExitStack unwinds in reverse: the server stops before its temporary directory goes,
    # whatever happened in between (error, Ctrl-C).
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petition-bench-")))
        database = st.prepare_database(options.database_url, workdir)
        # No mail is sent here, but a sink keeps the server from warning that SMTP is unset.
        _sink, smtp_port = stack.enter_context(st.smtp_sink())
        port = st.free_port()
        env = bench_env(workdir, database.url, port, smtp_port)
        st.create_campaign(env, workdir)
        seed_started = time.perf_counter()
        asyncio.run(seed(database.url, options.signatures, deadline))
        seed_seconds = round(time.perf_counter() - seed_started, 1)
        link = cli_output(env, "organiser", "add", EMAIL, "--name", "Bench Owner",
                          "--campaign", st.SLUG, "--role", "owner")  # fmt: skip
        log_path = workdir / "server.log"
        server = stack.enter_context(st.running_server(env, log_path))
        base_url = f"http://{st.HOST}:{port}"
        st.wait_until_healthy(server, base_url, log_path)
        measured = measure(base_url, urlsplit(link).path, server.pid, options, deadline)
        baseline, exports = asyncio.run(measured)
        return Report(
            revision=st.source_revision(),
            database=database.kind,
            database_version=database.version,
            machine=f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.platform()}",
            signatures=options.signatures,
            seed_seconds=seed_seconds,
            exports_require_2fa=False,
            baseline_rss_kib=baseline,
            exports=exports,
            server_hwm_kib=vm_kib(server.pid)["VmHWM"],
            server_log_problems=st.log_problems(log_path),
        )


def bench_env(workdir: Path, database_url: str, port: int, smtp_port: int) -> dict[str, str]:
    env = st.server_env(workdir, database_url, port, smtp_port)
    # Exports require two-factor authentication by default. The bench measures the export, not
    # the login; typing TOTP codes would only add machinery. Never do this in production.
    env["PETITION_EXPORTS_REQUIRE_2FA"] = "false"
    return env


def cli_output(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603  # fixed command line, no shell
        st.petition_command(*args), env=env, cwd=st.PROJECT_ROOT, capture_output=True, text=True,
        timeout=st.CLI_TIMEOUT, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise st.BenchError(f"petition {args[0]} exited {result.returncode}:\n{result.stderr}")
    return result.stdout.strip()


# --- Seeding ----------------------------------------------------------------------------------


async def seed(url: str, total: int, deadline: float) -> None:
    """Insert `total` confirmed signatures in batches, then make the counter agree."""
    engine = create_engine(url)  # the product's own: the same SQLite pragmas as the server
    try:
        async with engine.begin() as connection:
            query = select(Campaign.id).where(Campaign.slug == st.SLUG)
            campaign_id = (await connection.execute(query)).scalar_one()
        first = datetime.now(UTC) - timedelta(seconds=10 * total + 3600)
        for start in range(0, total, BATCH):
            if time.monotonic() > deadline:
                raise st.BenchError(f"--duration-limit reached after seeding {start} rows")
            stop = min(start + BATCH, total)
            rows = [signature_row(campaign_id, i, first) for i in range(start, stop)]
            async with engine.begin() as connection:
                await connection.execute(insert(Signature), rows)
        # Shard 0 carries the whole count: only the sum of the shards is ever read.
        async with engine.begin() as connection:
            await connection.execute(
                update(CounterShard)
                .where(CounterShard.campaign_id == campaign_id, CounterShard.shard == 0)
                .values(confirmed=total)
            )
    finally:
        await engine.dispose()


def signature_row(campaign_id: int, i: int, first: datetime) -> dict[str, object]:
    """Varied but deterministic, as in sign_throughput: one signer every 10 s, confirmed later."""
    created = first + timedelta(seconds=10 * i)
    return {
        "campaign_id": campaign_id,
        "status": SignatureStatus.CONFIRMED,
        "email_hash": hashlib.sha256(f"bench-{i}@example.org".encode()).hexdigest(),
        "first_name": st.FIRST_NAMES[i % len(st.FIRST_NAMES)],
        "last_name": st.LAST_NAMES[i // len(st.FIRST_NAMES) % len(st.LAST_NAMES)],
        "role": st.ROLES[i % len(st.ROLES)],
        "organisation": st.ORGANISATIONS[i % len(st.ORGANISATIONS)] or None,  # as the form does
        "publication": Publication.NAME if i % 3 == 0 else Publication.NONE,
        "locale": "fr",
        "consent_version": "bench",
        "consented_at": created,
        "created_at": created,
        "confirmed_at": created + timedelta(seconds=60 + i % 3600),
    }


# --- Exports ----------------------------------------------------------------------------------


async def measure(
    base_url: str, password_path: str, pid: int, options: argparse.Namespace, deadline: float
) -> tuple[int, list[ExportResult]]:
    # Generous reads: the server counts the rows before it sends the first byte.
    async with httpx.AsyncClient(base_url=base_url, timeout=120.0, trust_env=False) as client:
        token = await sign_in(client, password_path)
        await asyncio.sleep(1.0)  # let the login settle (argon2 runs in a thread) before measuring
        baseline = vm_kib(pid)["VmRSS"]
        exports = []
        for fmt in options.formats:
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    exports.append(
                        await export(client, token, fmt, pid, options.signatures, baseline)
                    )
            except TimeoutError:
                raise st.BenchError(f"--duration-limit reached during the {fmt} export") from None
            except httpx.HTTPError as exc:  # e.g. the server died or stopped sending
                raise st.BenchError(f"the {fmt} export failed: {exc!r}") from exc
    return baseline, exports


async def sign_in(client: httpx.AsyncClient, password_path: str) -> str:
    """Choose the password through the printed link, log in; return a CSRF token for exports."""
    await post_form(client, password_path, {"password": PASSWORD, "password_again": PASSWORD})
    await post_form(client, "/organiser/login", {"email": EMAIL, "password": PASSWORD, "code": ""})
    return await csrf_token(client, f"/dashboard/c/{st.SLUG}")


async def post_form(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> None:
    # GET the form's page first, for the CSRF cookie and token, as a browser does.
    response = await client.post(path, data={"_csrf_token": await csrf_token(client, path), **form})
    if response.status_code != 303:  # both forms redirect on success
        raise st.BenchError(f"POST {path[:20]}… answered {response.status_code}")


async def csrf_token(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    match = _CSRF_INPUT.search(response.text)
    if response.status_code != 200 or match is None:
        raise st.BenchError(f"GET {path[:20]}… answered {response.status_code} without a form")
    return match.group(1)


@dataclass(slots=True)
class Download:
    """What is kept of a download: counts and its first and last bytes, never the body."""

    fmt: str
    size: int = 0
    newlines: int = 0
    braces: int = 0
    head: bytes = b""
    tail: bytes = b""

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.newlines += chunk.count(b"\n")  # single bytes: never split between two chunks
        self.braces += chunk.count(b"{")
        self.head = self.head or chunk[:64]
        self.tail = (self.tail + chunk[-64:])[-64:]

    def rows(self) -> int | None:
        # Names, roles and organisations hold no line break and no brace.
        return {"csv": self.newlines - 1, "json": self.braces}.get(self.fmt)

    def well_formed(self, expected_rows: int) -> bool:
        shape = {
            "csv": self.head.startswith(b"\xef\xbb\xbf") and self.tail.endswith(b"\r\n"),
            "json": self.head.startswith(b"[{") and self.tail.endswith(b"}]\n"),
            # A ZIP starts with a local file header, ends with the end of central directory.
            "ods": self.head.startswith(b"PK\x03\x04") and self.tail[-22:-18] == b"PK\x05\x06",
        }[self.fmt]
        return shape and self.rows() in (None, expected_rows)


async def export(
    client: httpx.AsyncClient, token: str, fmt: str, pid: int, rows: int, baseline: int
) -> ExportResult:
    """POST one export and read it to the end while the server is watched."""
    download, first_byte = Download(fmt), 0.0
    async with watching(pid) as watch:
        started = time.perf_counter()
        form = {"_csrf_token": token, "format": fmt}
        async with client.stream("POST", EXPORT_PATH, data=form) as response:
            if response.status_code != 200:
                raise st.BenchError(f"the {fmt} export answered {response.status_code}")
            async for chunk in response.aiter_raw():
                first_byte = first_byte or time.perf_counter() - started
                download.add(chunk)
        total = time.perf_counter() - started
    cpu = None if watch.cpu_seconds is None else round(watch.cpu_seconds / total, 2)
    return ExportResult(
        format=fmt,
        bytes=download.size,
        rows_counted=download.rows(),
        well_formed=download.well_formed(rows),
        first_byte_seconds=round(first_byte, 3),
        total_seconds=round(total, 3),
        rows_per_second=round(rows / total),
        rss_before_kib=watch.before_kib,
        rss_peak_kib=watch.peak_kib,
        rss_increase_kib=watch.peak_kib - baseline,
        server_cpu_share=cpu,
    )


@dataclass(slots=True)
class Watch:
    before_kib: int  # VmRSS when watching began
    peak_kib: int  # highest VmRSS sampled since
    cpu_seconds: float | None = None  # CPU time the server used meanwhile; None off Linux


@contextlib.asynccontextmanager
async def watching(pid: int) -> AsyncIterator[Watch]:
    """Sample the server's RSS every 50 ms in a task, and its CPU time at both ends."""
    rss = vm_kib(pid)["VmRSS"]
    watch = Watch(before_kib=rss, peak_kib=rss)
    cpu_before = st.server_cpu_seconds(pid)
    sampler = asyncio.create_task(sample_rss(pid, watch))
    try:
        yield watch
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    cpu_after = st.server_cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        watch.cpu_seconds = cpu_after - cpu_before


async def sample_rss(pid: int, watch: Watch) -> None:
    while True:
        watch.peak_kib = max(watch.peak_kib, vm_kib(pid)["VmRSS"])
        await asyncio.sleep(SAMPLE_INTERVAL)


def vm_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (highest resident so far) of a process in KiB, Linux only."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError as exc:
        raise st.BenchError(f"cannot read the server's memory in /proc: {exc}") from exc
    return {name: int(kib) for name, kib in _VM_LINE.findall(status)}


# --- Figures ----------------------------------------------------------------------------------


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def print_report(r: Report) -> None:
    print("petition export memory benchmark")
    print(f"  revision    {r.revision}")
    print(f"  database    {r.database} {r.database_version}")
    print(f"  machine     {r.machine}")
    print(f"  signatures  {r.signatures} confirmed, seeded in {r.seed_seconds:.1f} s")
    print(f"  baseline    {_mib(r.baseline_rss_kib)} MiB RSS before the first export (2FA off)")
    print("\n  format ok  MiB out 1st byte s total s rows/s CPU  RSS MiB: before  peak +baseline")
    for e in r.exports:
        cpu = "n/a" if e.server_cpu_share is None else f"{e.server_cpu_share:.0%}"
        print(
            f"  {e.format:<6} {'yes' if e.well_formed else 'NO':<3} {e.bytes / 2**20:>7.1f}"
            f" {e.first_byte_seconds:>10.2f} {e.total_seconds:>7.2f} {e.rows_per_second:>6}"
            f" {cpu:>4} {_mib(e.rss_before_kib):>15} {_mib(e.rss_peak_kib):>5}"
            f" {_mib(e.rss_increase_kib):>10}"
        )
    print(f"\n  server VmHWM {_mib(r.server_hwm_kib)} MiB (highest RSS in its whole life)")
    print(f"  server log   {len(r.server_log_problems)} warning/error lines")
    for line in r.server_log_problems[:5]:
        print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
