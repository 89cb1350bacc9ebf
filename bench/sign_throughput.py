"""Signing throughput: how many signatures per second one `petition serve` accepts, end to end.

Starts an SMTP sink and a real server on loopback ports, posts N signatures from C concurrent
clients, then waits until every confirmation mail has reached the sink. See bench/README.md.

    .venv/bin/python bench/sign_throughput.py [--signatures N] [--concurrency C]
        [--database-url URL] [--duration-limit SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")  # a bench's report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SLUG = "bench"
CAMPAIGN_PATH = f"/c/{SLUG}"
CAMPAIGN_FILE = f"""\
---
slug: {SLUG}
title: "Benchmark campaign"
kind: petition
goal: 1000000
required: [role]
---
Created by `bench/sign_throughput.py` in a throw-away database.
"""

CLI_TIMEOUT = 120.0  # each short subprocess: db upgrade, campaign create, git describe
STARTUP_TIMEOUT = 30.0  # until /healthz answers
STOP_TIMEOUT = 10.0  # after SIGTERM, before SIGKILL
REQUEST_TIMEOUT = 30.0
POLL_INTERVAL = 0.05

_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
_STAMP_INPUT = re.compile(r'name="shown" value="([^"]+)"')
_LOG_PROBLEM = re.compile(r"^(WARNING|ERROR|CRITICAL|Traceback)")

# Realistic signers: accents, apostrophes and spaces go through the same NFC and character checks
# as real names; some leave the optional organisation empty, as real people do.
FIRST_NAMES = (
    "Camille", "Léa", "Hugo", "Chloé", "Mathéo", "Inès", "Noé", "Zoé", "Amadou", "Siobhán",
    "Jürgen", "Aïcha", "Élodie", "Thuy", "Karim", "Ana", "François",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Lefèvre", "N'Diaye", "Nguyen", "García", "Müller",
    "Da Silva", "Le Goff", "Ó Briain", "Benali", "Rousseau", "Kowalski", "Moreau-Chevalier",
)  # fmt: skip
ROLES = (
    "Médecin généraliste", "Infirmière en réanimation", "Pharmacien d'officine", "Patiente",
    "Chercheuse en santé publique", "Kinésithérapeute", "Sage-femme", "Aide-soignant",
    "Professor of epidemiology", "Délégué à la protection des données", "Interne",
)  # fmt: skip
ORGANISATIONS = (
    "", "CHU de Nantes", "Association française des diabétiques", "Cabinet médical du Parc",
    "Inserm", "", "AP-HP, hôpital Bichat", "Université de Lille", "Pharmacie de la Gare",
    "France Assos Santé", "",
)  # fmt: skip
# Alternate clients between the two shipped languages, so both mail catalogues are exercised.
LANGUAGES = ("fr-FR,fr;q=0.9,en;q=0.5", "en-GB,en;q=0.8")


class BenchError(Exception):
    """The benchmark could not run; the message says why."""


@dataclass(frozen=True, slots=True)
class Database:
    url: str  # as given to the server
    kind: str  # "sqlite" or "postgresql"
    version: str


@dataclass(slots=True)
class LoadResult:
    """What the POST phase saw; filled by the concurrent client loops."""

    latencies: list[float] = field(default_factory=list)  # seconds, one per POST
    outcomes: Counter[str] = field(default_factory=Counter)  # status code or exception name
    seconds: float = 0.0  # wall time from the first POST to the last answer

    @property
    def accepted(self) -> int:
        return self.outcomes["303"]


@dataclass(frozen=True, slots=True)
class Report:
    revision: str
    database: str
    database_version: str
    cpu_count: int | None
    python: str
    platform: str
    signatures_requested: int
    concurrency: int
    accepted: int
    errors: int
    error_kinds: dict[str, int]
    post_seconds: float
    signatures_per_second: float
    latency_ms: dict[str, float]
    server_cpu_share: float | None  # server CPU seconds / POST wall seconds (1.0 = one core)
    bench_cpu_share: float | None  # the same for this process: clients and SMTP sink
    mails_expected: int
    mails_at_last_post: int
    mails_received: int
    drain_seconds: float | None  # None: not all mail arrived within the limit
    server_log_problems: list[str]


class CountingHandler:
    """aiosmtpd handler that accepts every message and only counts it."""

    def __init__(self) -> None:
        # The controller runs its own event loop in a thread; the lock makes reads from ours safe.
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._count += 1
        return "250 Message accepted for delivery"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    return conclude(
        lambda: run(options),
        print_report,
        options.json,
        stopped="server stopped",
        # A failing status lets `make bench` or CI notice a broken signing path, not a slow one.
        ok=lambda r: r.accepted == r.signatures_requested and r.drain_seconds is not None,
    )


def conclude(
    run_bench: Callable[[], R],
    print_report: Callable[[R], None],
    json_path: Path | None,
    *,
    stopped: str,
    ok: Callable[[R], bool],
    document: Callable[[R], object] | None = None,
) -> int:
    """Every bench's ending: run, print, write the JSON, and the exit status (0 ok, 1 failed or
    could not run, 130 on Ctrl-C, after `stopped` was done by the bench's own clean-up)."""
    try:
        report = run_bench()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bench: interrupted; {stopped}", file=sys.stderr)
        return 130
    print_report(report)
    if json_path is not None:
        body = document(report) if document is not None else asdict(report)
        json_path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return 0 if ok(report) else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark signing throughput of petition serve.")
    parser.add_argument("--signatures", type=_positive_int, default=2000, metavar="N")
    parser.add_argument("--concurrency", type=_positive_int, default=16, metavar="C")
    parser.add_argument(
        "--database-url",
        help="postgresql://… on loopback (ITS public SCHEMA IS WIPED), or sqlite:///… of a file "
        "that does not exist yet; default: SQLite in a fresh temporary directory",
    )
    parser.add_argument(
        "--duration-limit",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="stop posting after this long, and stop waiting for mail after this long again",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    if options.duration_limit <= 0:
        parser.error("--duration-limit must be positive")
    return options


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def run(options: argparse.Namespace) -> Report:
    # ExitStack unwinds in reverse: server first, then the SMTP sink, then the temporary files,
    # whatever happened in between (error, Ctrl-C).
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petition-bench-")))
        database = prepare_database(options.database_url, workdir)
        sink, smtp_port = stack.enter_context(smtp_sink())
        port = free_port()
        env = server_env(workdir, database.url, port, smtp_port)
        create_campaign(env, workdir)
        log_path = workdir / "server.log"
        server = stack.enter_context(running_server(env, log_path))
        base_url = f"http://{HOST}:{port}"
        wait_until_healthy(server, base_url, log_path)
        measured = measure(options, server.pid, sink, base_url)
        report = build_report(options, database, measured, log_problems(log_path))
    return report


@dataclass(frozen=True, slots=True)
class Measurement:
    load: LoadResult
    server_cpu: float | None  # CPU seconds the server used while posting
    bench_cpu: float  # the same for this process
    mails_at_last_post: int
    mails_received: int
    drain_seconds: float | None


def measure(
    options: argparse.Namespace, server_pid: int, sink: CountingHandler, base_url: str
) -> Measurement:
    # CPU times bracket the whole POST phase; the C page GETs inside it are negligible next to N
    # POSTs, and they tell whether the server or the load generator was the limit.
    server_cpu_before = server_cpu_seconds(server_pid)
    bench_cpu_before = time.process_time()
    load = asyncio.run(
        sign_concurrently(base_url, options.signatures, options.concurrency, options.duration_limit)
    )
    server_cpu_after = server_cpu_seconds(server_pid)
    bench_cpu = time.process_time() - bench_cpu_before
    server_cpu = None
    if server_cpu_before is not None and server_cpu_after is not None:
        server_cpu = server_cpu_after - server_cpu_before
    mails_at_last_post = sink.count
    drain = wait_for_mail(sink, load.accepted, options.duration_limit)
    return Measurement(
        load=load,
        server_cpu=server_cpu,
        bench_cpu=bench_cpu,
        mails_at_last_post=mails_at_last_post,
        mails_received=sink.count,
        drain_seconds=drain,
    )


def build_report(
    options: argparse.Namespace, database: Database, m: Measurement, problems: list[str]
) -> Report:
    load = m.load
    return Report(
        revision=source_revision(),
        database=database.kind,
        database_version=database.version,
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        platform=platform.platform(),
        signatures_requested=options.signatures,
        concurrency=options.concurrency,
        accepted=load.accepted,
        errors=load.outcomes.total() - load.accepted,
        error_kinds={kind: n for kind, n in load.outcomes.items() if kind != "303"},
        post_seconds=round(load.seconds, 3),
        signatures_per_second=round(load.accepted / load.seconds, 1) if load.seconds else 0.0,
        latency_ms=latency_summary(load.latencies),
        server_cpu_share=_share(m.server_cpu, load.seconds),
        bench_cpu_share=_share(m.bench_cpu, load.seconds),
        mails_expected=load.accepted,
        mails_at_last_post=m.mails_at_last_post,
        mails_received=m.mails_received,
        drain_seconds=None if m.drain_seconds is None else round(m.drain_seconds, 3),
        server_log_problems=problems,
    )


# --- Database ---------------------------------------------------------------------------------


def prepare_database(option_url: str | None, workdir: Path) -> Database:
    """An empty database for the server: a new SQLite file, or a wiped PostgreSQL schema."""
    if option_url is None:
        return Database(f"sqlite:///{workdir / 'petition.db'}", "sqlite", sqlite3.sqlite_version)
    try:
        url = make_url(option_url)
    except ArgumentError as exc:
        raise BenchError(f"not a database URL: {option_url}") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        # Migrating and creating the campaign need an empty database; never touch an existing one.
        if not url.database or Path(url.database).exists():
            raise BenchError(
                f"{option_url}: give the path of a SQLite file that does not exist yet"
            )
        return Database(option_url, "sqlite", sqlite3.sqlite_version)
    if backend in {"postgresql", "postgres"}:
        # The bench talks to loopback only; a unix socket (no host) is local as well.
        if url.host is not None and url.host not in LOOPBACK_HOSTS:
            raise BenchError(f"{option_url}: the database must be on this machine (127.0.0.1)")
        print(
            f"WARNING: wiping database {url.database!r} on {url.host or 'the local socket'}: "
            "DROP SCHEMA public CASCADE",
            file=sys.stderr,
        )
        version = asyncio.run(reset_postgres(url))
        return Database(option_url, "postgresql", version)
    raise BenchError(f"unsupported database: {backend} (use sqlite:/// or postgresql://)")


async def reset_postgres(url: URL) -> str:
    """Drop every table, type and sequence of the public schema; return the server version."""
    engine = create_async_engine(url.set(drivername="postgresql+asyncpg"))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
            version = await connection.scalar(text("SHOW server_version"))
    except (OSError, SQLAlchemyError) as exc:
        raise BenchError(f"cannot reset the PostgreSQL schema: {exc}") from exc
    finally:
        await engine.dispose()
    return str(version)


# --- Processes --------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port free right now (the OS picks it; a race with another program is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[CountingHandler, int]]:
    handler = CountingHandler()
    controller = Controller(handler, hostname=HOST, port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def server_env(
    workdir: Path, database_url: str, port: int, smtp_port: int | None
) -> dict[str, str]:
    """The server's settings; without `smtp_port` it writes mail as .eml files under workdir."""
    # The operator's own PETITION_* variables must not leak in: the bench measures the defaults.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PETITION_")}
    if smtp_port is not None:
        env |= {
            "PETITION_SMTP_HOST": HOST,
            "PETITION_SMTP_PORT": str(smtp_port),
            "PETITION_SMTP_TLS": "none",
        }
    env |= {
        "PETITION_VAR_DIR": str(workdir),
        "PETITION_DATABASE_URL": database_url,
        "PETITION_SECRET_KEY": secrets.token_urlsafe(48),
        "PETITION_BASE_URL": f"http://{HOST}:{port}",
        "PETITION_HOST": HOST,
        "PETITION_PORT": str(port),
        # One machine plays thousands of signers from one address, at once and without
        # JavaScript: the anti-abuse rules would (rightly) hold them all in quarantine. They
        # still run on every submission; only their thresholds are lifted.
        "PETITION_FORM_MIN_SECONDS": "0",
        "PETITION_NOJS_BURST_LIMIT": "1000000000",
        "PETITION_NOJS_SUSTAINED_LIMIT": "1000000000",
    }
    return env


def petition_command(*args: str) -> list[str]:
    # The interpreter running the bench is the project's venv: no dependency on PATH.
    return [sys.executable, "-m", "petition.cli", *args]


def create_campaign(env: dict[str, str], workdir: Path) -> None:
    """Migrate the empty database and create the `bench` campaign, as an operator would."""
    run_cli(env, "db", "upgrade")
    campaign_file = workdir / "campaign.md"
    campaign_file.write_text(CAMPAIGN_FILE, encoding="utf-8")
    run_cli(env, "campaign", "create", str(campaign_file))


def run_cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(  # noqa: S603  # fixed command line, no shell
        petition_command(*args),
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(
            f"petition {' '.join(args)} exited with {result.returncode}:\n{result.stderr}"
        )


@contextlib.contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603  # fixed command line, no shell
            petition_command("serve"),
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield server
        finally:
            stop_process(server)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets uvicorn run the lifespan shutdown; SIGKILL only if it hangs."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_healthy(server: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    # trust_env=False: no proxy from the environment may stand between us and loopback.
    with httpx.Client(base_url=base_url, timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise BenchError(f"server exited with {server.returncode}:\n{_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise BenchError(f"server not healthy after {STARTUP_TIMEOUT:.0f} s:\n{_tail(log_path)}")


def source_revision() -> str:
    """The commit measured, suffixed -dirty when the working tree differs from it."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607  # git from PATH, no shell
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def server_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the server has used so far, from Linux /proc; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # Fields after the parenthesised command name start at field 3; utime and stime are 14 and 15.
    after_name = stat.rpartition(")")[2].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def log_problems(log_path: Path) -> list[str]:
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line for line in lines if _LOG_PROBLEM.match(line)]


def _tail(log_path: Path, lines: int = 30) -> str:
    return "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# --- Load -------------------------------------------------------------------------------------


async def sign_concurrently(
    base_url: str, total: int, concurrency: int, limit: float
) -> LoadResult:
    """Post `total` signatures from `concurrency` clients; stop early after `limit` seconds."""
    result = LoadResult()
    async with contextlib.AsyncExitStack() as stack:
        # One client per loop: each keeps its own CSRF cookie, like one browser per signer.
        clients = [
            await stack.enter_async_context(_client(base_url, LANGUAGES[n % len(LANGUAGES)]))
            for n in range(concurrency)
        ]
        # Fetch every form first, so the timed phase contains POSTs only.
        tokens = await asyncio.gather(*(csrf_token(client) for client in clients))
        # One iterator shared by all loops: each index is taken by exactly one of them, and the
        # event loop runs one coroutine at a time, so no lock is needed.
        indices = iter(range(total))
        started = time.perf_counter()
        deadline = started + limit
        await asyncio.gather(
            *(
                post_signatures(client, token, indices, deadline, result)
                for client, token in zip(clients, tokens, strict=True)
            )
        )
        result.seconds = time.perf_counter() - started
    return result


def _client(base_url: str, language: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Accept-Language": language},
        timeout=REQUEST_TIMEOUT,
        trust_env=False,
    )


async def csrf_token(client: httpx.AsyncClient) -> str:
    """The form's CSRF token and its signed "shown" stamp, as `token|stamp`."""
    response = await client.get(CAMPAIGN_PATH)
    match = _CSRF_INPUT.search(response.text)
    stamp = _STAMP_INPUT.search(response.text)
    if response.status_code != 200 or match is None or "csrftoken" not in client.cookies:
        raise BenchError(
            f"GET {CAMPAIGN_PATH} answered {response.status_code} without a CSRF token"
        )
    return f"{match.group(1)}|{stamp.group(1) if stamp else ''}"


async def post_signatures(
    client: httpx.AsyncClient,
    token: str,
    indices: Iterator[int],
    deadline: float,
    result: LoadResult,
) -> None:
    for index in indices:
        if time.perf_counter() >= deadline:
            return
        form = signature_form(index, token)
        started = time.perf_counter()
        try:
            response = await client.post(CAMPAIGN_PATH, data=form)
            outcome = str(response.status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        result.latencies.append(time.perf_counter() - started)
        result.outcomes[outcome] += 1


def signature_form(index: int, token: str) -> dict[str, str]:
    """Varied but deterministic: the same N always posts the same signers."""
    csrf, _, stamp = token.partition("|")
    form = {
        "_csrf_token": csrf,
        "shown": stamp,
        "website": "",
        "first_name": FIRST_NAMES[index % len(FIRST_NAMES)],
        "last_name": LAST_NAMES[index // len(FIRST_NAMES) % len(LAST_NAMES)],
        "role": ROLES[index % len(ROLES)],
        "organisation": ORGANISATIONS[index % len(ORGANISATIONS)],
        "email": f"bench-{index}@example.org",
        "consent": "yes",
    }
    if index % 3 == 0:  # some signers ask for their name to be published
        form["publication"] = "name"
    return form


def wait_for_mail(sink: CountingHandler, expected: int, limit: float) -> float | None:
    """Seconds from now until the sink holds `expected` mails; None if `limit` passes first."""
    started = time.perf_counter()
    while sink.count < expected:
        if time.perf_counter() - started >= limit:
            return None
        time.sleep(POLL_INTERVAL)
    return time.perf_counter() - started


# --- Figures ----------------------------------------------------------------------------------


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    points = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "max": 1.0}
    return {name: round(percentile(ordered, q) * 1000, 1) for name, q in points.items()}


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest rank: a latency some request really had, not an interpolation between two."""
    if not ordered:
        return 0.0
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _share(cpu_seconds: float | None, wall_seconds: float) -> float | None:
    if cpu_seconds is None or wall_seconds <= 0:
        return None
    return round(cpu_seconds / wall_seconds, 2)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def print_report(r: Report) -> None:
    errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(r.error_kinds.items()))
    lat = r.latency_ms
    drain = "not complete" if r.drain_seconds is None else f"{r.drain_seconds:.2f} s"
    rows = [
        ("revision", r.revision),
        ("database", f"{r.database} {r.database_version}"),
        ("machine", f"{r.cpu_count} CPUs, Python {r.python}, {r.platform}"),
        ("signatures", f"{r.accepted} accepted of {r.signatures_requested} requested"),
        ("errors", f"{r.errors}" + (f" ({errors})" if errors else "")),
        ("concurrency", f"{r.concurrency} clients"),
        ("POST phase", f"{r.post_seconds:.2f} s"),
        ("throughput", f"{r.signatures_per_second:.1f} signatures/s"),
        ("latency (ms)", f"p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}"),
        (
            "CPU (1 core=100%)",
            f"server {_percent(r.server_cpu_share)}, bench {_percent(r.bench_cpu_share)}",
        ),
        ("mail at last POST", f"{r.mails_at_last_post} of {r.mails_expected}"),
        ("mail received", f"{r.mails_received} of {r.mails_expected}"),
        ("outbox drain", f"{drain} after the last POST"),
        ("server log", f"{len(r.server_log_problems)} warning/error lines"),
    ]
    width = max(len(label) for label, _ in rows)
    print("petition signing benchmark")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    for line in r.server_log_problems[:5]:
        print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
