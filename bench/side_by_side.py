"""Side by side: petition's hot paths and the framework's ceilings, measured in one run.

For each database and each HTTP server asked for, a fresh database with the `bench` campaign,
`petition serve` and the ceiling app (bench/ceiling_app.py) pinned to CPU 0, wrk on CPU 1, C
keep-alive connections, a warm-up then a timed run per target:

    lean signing   POST /ceiling/sign      bare Litestar + sqlite3 INSERT, WAL, synchronous=FULL
    signing        POST /c/bench           every defence: CSRF, form stamp, proof of work, limits
    confirmation   POST /confirm/<token>   the links of the mails the signing phase sent
    constant JSON  GET /ceiling            bare Litestar, a constant document
    count JSON     GET /api/v1/campaigns/bench
    campaign page  GET /c/bench

Each signing and each confirmation is sent once (wrk reads pre-built requests from a file), and
the database is checked afterwards. See bench/README.md, "Side by side".

    .venv/bin/python bench/side_by_side.py [--server uvicorn|granian|both]
        [--database-url URL [--both]] [--duration SECONDS] [--warmup SECONDS]
        [--connections C] [--targets LIST] [--pow-cost auto|N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import _live_server as live  # its directory is first on sys.path when a bench runs as a script
import _machine as machine
import _pow_solve as pow_solve
import _wrk as wrk
import ceiling_app
import count_reads
import httpx
import sign_throughput as st
from _machine import CLIENT_CPU, SERVER_CPU
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from petition.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
SERVERS = ("uvicorn", "granian")
COUNT_PATH = f"/api/v1/campaigns/{st.SLUG}"
CONFIRM_LINK = re.compile(r"/confirm/[A-Za-z0-9_\-.~%]+")
# Client addresses for X-Forwarded-For: the benchmarking range (RFC 2544), 131,072 of them;
# they are header values, no packet goes there.
FIRST_ADDRESS = IPv4Address("198.18.0.0")
ADDRESSES = 2**17
FORMS = 64  # signing forms fetched (a cookie, a token, a stamp each), shared out between bodies
FIRST_GUESS = 600  # signatures/s assumed before the warm-up measured it: sizes the warm-up
GOALS = {
    # target: (ceiling it is compared with, least share of it, highest p99 in ms or None)
    "signing": ("lean signing", 0.5, 100.0),
    "count JSON": ("constant JSON", 0.8, None),
    "campaign page": ("constant JSON", 0.5, None),
}
CONFIRMATION_GOAL = 1000.0  # confirmations per second, absolute
TARGETS = (
    "lean signing",
    "signing",
    "confirmation",
    "constant JSON",
    "count JSON",
    "campaign page",
)


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    server: str
    target: str
    request: str  # method and path
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int  # answered with the expected status in the timed run
    errors: int
    error_kinds: dict[str, int]
    seconds: float
    ran_out: bool  # POST: every prepared body was sent before the duration was over
    server_cpu_share: float  # server CPU s / run s (1.0 = one core busy)
    server_cpu_us_per_request: float
    client_cpu_share: float
    ceiling: str | None
    of_ceiling: float | None
    goal: str
    goal_met: bool | None


@dataclass(frozen=True, slots=True)
class Check:
    """A fact checked in the database (or the mail sink) after a phase."""

    database: str
    server: str
    name: str
    expected: int
    found: int

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass(frozen=True, slots=True)
class Load:
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    other_pytest_processes: int  # the most seen at any check


@dataclass(slots=True)
class Report:
    revision: str
    machine: str
    python: str
    wrk: str
    connections: int
    petition_server: str  # its workers and CPUs
    warmup_seconds: int
    duration_seconds: int
    pow: dict[str, Any]
    settings: dict[str, str]  # what the bench sets differently from the product's defaults
    results: list[Result] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    load: list[Load] = field(default_factory=list)
    server_log_problems: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    # Killed (SIGTERM), it stops the servers it started as on Ctrl-C, not leaving them behind.
    signal.signal(signal.SIGTERM, _interrupted)
    return st.conclude(
        lambda: run(options, deadline=time.monotonic() + options.duration_limit),
        print_report,
        options.json,
        stopped="servers stopped",
        # Slow is reported, not failed; failed is a measurement that cannot be trusted.
        ok=lambda r: all(x.errors == 0 for x in r.results) and all(c.ok for c in r.checks),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        choices=(*SERVERS, "both"),
        default=Settings().server,
        help="HTTP server of petition serve and of the ceiling app (default: the product's)",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://… on loopback (ITS public SCHEMA IS WIPED at every server); "
        "default: SQLite in a fresh temporary directory",
    )
    parser.add_argument(
        "--both", action="store_true", help="SQLite, then PostgreSQL at --database-url"
    )
    parser.add_argument(
        "--rounds",
        type=st._positive_int,
        default=1,
        metavar="N",
        help="measure each server N times, in alternating order",
    )
    parser.add_argument("--connections", type=st._positive_int, default=64, metavar="C")
    parser.add_argument("--duration", type=st._positive_int, default=10, metavar="SECONDS")
    parser.add_argument("--warmup", type=st._positive_int, default=3, metavar="SECONDS")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated, among: {', '.join(TARGETS)} (confirmation needs signing)",
    )
    parser.add_argument(
        "--pow-cost",
        default="auto",
        help="PETITION_POW_COST of the server; auto: the lowest whose check costs the server "
        "what the default's does (measured first)",
    )
    parser.add_argument(
        "--max-bodies",
        type=st._positive_int,
        default=60000,
        metavar="N",
        help="signatures prepared for one timed run at most",
    )
    parser.add_argument(
        "--mail-wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the confirmation mails after signing",
    )
    parser.add_argument(
        "--ceiling-sign-mode", choices=ceiling_app.SIGN_MODES, default="thread", metavar="MODE"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each server, wait up to this long for a quiet machine (no pytest running, "
        "CPUs idle); the figures say how loaded it was either way",
    )
    parser.add_argument(
        "--workers",
        type=st._positive_int,
        default=1,
        metavar="N",
        help="worker processes of petition serve (PETITION_WORKERS); the ceiling keeps one",
    )
    parser.add_argument(
        "--server-cpus",
        default=str(SERVER_CPU),
        metavar="LIST",
        help=f"CPUs petition serve may run on (taskset -c); default {SERVER_CPU}. With 2 workers "
        f"on a 2-CPU machine, 0,1: then it shares CPU {CLIENT_CPU} with wrk",
    )
    parser.add_argument("--duration-limit", type=float, default=5400.0, metavar="SECONDS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    targets = [t.strip() for t in options.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if "confirmation" in targets and "signing" not in targets:
        parser.error("confirmation needs signing (its links come from the signing phase)")
    options.targets = [t for t in TARGETS if t in targets]
    if options.both and not options.database_url:
        parser.error("--both needs --database-url (the PostgreSQL database to wipe and use)")
    if options.pow_cost != "auto" and not options.pow_cost.isdigit():
        parser.error("--pow-cost is auto or a positive number")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian: apt-get install wrk util-linux)")
    options.servers = SERVERS if options.server == "both" else (options.server,)
    options.databases = [None, options.database_url] if options.both else [options.database_url]
    return options


# --- The run ----------------------------------------------------------------------------------


def run(options: argparse.Namespace, deadline: float) -> Report:
    live.raise_fd_limit()
    # This process (and its SMTP sinks) beside wrk, away from the servers.
    os.sched_setaffinity(0, {CLIENT_CPU})
    cpus = os.cpu_count() or 1
    with pow_solve.pool(cpus) as executor:
        cost, probe = choose_pow_cost(options, executor)
        report = Report(
            revision=st.source_revision(),
            machine=f"{cpus} CPUs, {platform.platform()}",
            python=platform.python_version(),
            wrk=count_reads.client_name(argparse.Namespace(client="wrk", threads=1)),
            connections=options.connections,
            petition_server=f"{options.workers} worker(s) on CPU {options.server_cpus}",
            warmup_seconds=options.warmup,
            duration_seconds=options.duration,
            pow={"cost": cost, "probe": None if probe is None else asdict(probe)},
            settings=bench_settings(cost),
        )
        secret = secrets.token_urlsafe(48)  # one for every server: their challenges agree
        solutions = Solutions(executor, cpus)
        for database_url, server in sessions(options):
            if time.monotonic() >= deadline:
                raise st.BenchError("--duration-limit reached")
            session = Session(options, report, solutions, secret, cost, server, deadline)
            session.run(database_url)
    return report


def sessions(options: argparse.Namespace) -> Iterator[tuple[str | None, str]]:
    """Each database in turn; its servers in rounds, every other round in reverse order (ABBA),
    so that a machine getting busier or quieter favours neither."""
    for database_url in options.databases:
        for number in range(options.rounds):
            order = options.servers if number % 2 == 0 else options.servers[::-1]
            for server in order:
                yield database_url, server


def choose_pow_cost(
    options: argparse.Namespace, executor: Any
) -> tuple[int, pow_solve.Probe | None]:
    if options.pow_cost != "auto":
        return int(options.pow_cost), None
    default = Settings().pow_cost
    try:
        probe = pow_solve.probe(executor, default)
    except Exception as exc:  # the code under test changed its API: say so, do not guess
        raise st.BenchError(
            f"cannot measure the proof-of-work check ({type(exc).__name__}: {exc}); "
            f"give --pow-cost N (the product's default is {default})"
        ) from exc
    print(
        f"bench: proof of work: check {probe.default_check_ms:.3f} ms at the default cost "
        f"{default}, {probe.check_ms:.3f} ms at {probe.cost}: the bench uses {probe.cost}",
        file=sys.stderr,
    )
    return probe.cost, probe


def bench_settings(cost: int) -> dict[str, str]:
    """What the server runs with, beyond the product's defaults (and var dir, ports, secret)."""
    return {
        # Distinct client addresses arrive in X-Forwarded-For, from the bench on 127.0.0.1.
        "PETITION_TRUSTED_PROXIES": "127.0.0.1",
        "PETITION_POW_COST": str(cost),
        # Solutions are solved once and reused by each server (each on a fresh database): they
        # must outlive the whole run. The check does not depend on it.
        "PETITION_POW_MINUTES": "600",
    }


class Solutions:
    """Solved challenges, in the order solved. Each server (on a fresh database) takes them from
    the first: a solution is spent once per database, never twice in one."""

    def __init__(self, executor: Any, processes: int) -> None:
        self._executor = executor
        self._processes = processes
        self.payloads: list[str] = []

    def ensure(self, count: int, base_url: str) -> None:
        missing = count - len(self.payloads)
        if missing <= 0:
            return
        started = time.monotonic()
        challenges = asyncio.run(fetch_challenges(base_url, missing))
        self.payloads += pow_solve.solve_all(self._executor, challenges, self._processes)
        print(
            f"bench: {missing} challenges fetched and solved in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )


async def fetch_challenges(base_url: str, count: int) -> list[dict[str, Any]]:
    """GET /c/bench/challenge `count` times, as the widget does, from a few connections."""
    path = f"{st.CAMPAIGN_PATH}/challenge"
    indices = iter(range(count))
    found: list[dict[str, Any]] = []

    async def one_connection(http: httpx.AsyncClient) -> None:
        for _ in indices:
            response = await http.get(path)
            if response.status_code != 200:
                raise st.BenchError(f"GET {path} answered {response.status_code}")
            found.append(response.json())

    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(live.client(base_url)) for _ in range(8)]
        await asyncio.gather(*(one_connection(http) for http in clients))
    return found


# --- One database and one server --------------------------------------------------------------


@dataclass(slots=True)
class Phase:
    """What the signing phase left for the confirmation phase."""

    signed: int = 0  # 303 answers to signing POSTs (warm-up and timed)
    tokens: list[str] = field(default_factory=list)


class Session:
    def __init__(
        self,
        options: argparse.Namespace,
        report: Report,
        solutions: Solutions,
        secret: str,
        cost: int,
        server: str,
        deadline: float,
    ) -> None:
        self.options = options
        self.report = report
        self.solutions = solutions
        self.secret = secret
        self.cost = cost
        self.server = server
        self.deadline = deadline
        self.database = "?"
        self.ceilings: dict[str, float] = {}
        self.pytest_seen: list[int] = []  # test processes seen, at each run

    def run(self, database_url: str | None) -> None:
        machine.wait_until_quiet(
            min(self.options.wait_quiet, max(0.0, self.deadline - time.monotonic()))
        )
        load_before = os.getloadavg()
        self.pytest_seen = [machine.other_pytest_processes()]
        with tempfile.TemporaryDirectory(prefix="petition-sbs-") as temporary:
            workdir = Path(temporary)
            database = st.prepare_database(database_url, workdir)
            self.database = database.kind
            log = workdir / "petition.log"
            with contextlib.ExitStack() as servers:
                sink = servers.enter_context(mail_sink(Sink()))
                petition = servers.enter_context(self.petition_server(workdir, database, sink.port))
                ceiling = servers.enter_context(self.ceiling_server(workdir))
                print(
                    f"bench: {self.database} {database.version}, {self.server}: servers up",
                    file=sys.stderr,
                )
                self.measure(Runner(self, workdir), petition, ceiling, sink, database.url)
            # Read once the server has stopped: its shutdown may have something to say.
            self.report.server_log_problems[f"{self.database}/{self.server}"] = [
                line for line in st.log_problems(log) if "no PETITION_SMTP" not in line
            ]
        self.report.load.append(Load(load_before, os.getloadavg(), max(self.pytest_seen)))

    def measure(
        self, runner: Runner, petition: Served, ceiling: Served, sink: Sink, database_url: str
    ) -> None:
        targets = self.options.targets
        phase = Phase()
        if "lean signing" in targets:
            runner.lean_signing(ceiling.base_url, ceiling.pid)
        if "signing" in targets:
            phase = runner.signing(petition, database_url)
            phase.tokens = self.wait_for_mail(sink, phase.signed)
        if "confirmation" in targets:
            runner.confirmation(petition, database_url, phase)
        if "constant JSON" in targets:
            runner.get("constant JSON", ceiling.base_url, ceiling_app.PATH, ceiling.pid)
        for name, path in (("count JSON", COUNT_PATH), ("campaign page", st.CAMPAIGN_PATH)):
            if name in targets:
                runner.get(name, petition.base_url, path, petition.pid)

    @contextlib.contextmanager
    def petition_server(
        self, workdir: Path, database: st.Database, smtp_port: int
    ) -> Iterator[Served]:
        port = st.free_port()
        env = st.server_env(workdir, database.url, port, smtp_port)
        # sign_throughput.py lifts these for its one address; here every defence runs at the
        # product's thresholds.
        for lifted in ("FORM_MIN_SECONDS", "NOJS_BURST_LIMIT", "NOJS_SUSTAINED_LIMIT"):
            del env[f"PETITION_{lifted}"]
        env |= bench_settings(self.cost)
        env |= {"PETITION_SECRET_KEY": self.secret, "PETITION_SERVER": self.server}
        env["PETITION_WORKERS"] = str(self.options.workers)
        st.create_campaign(env, workdir)
        command = st.petition_command("serve")
        log = workdir / "petition.log"
        cpus = self.options.server_cpus
        with machine.pinned_process(command, env, st.PROJECT_ROOT, log, cpus) as process:
            base_url = f"http://{st.HOST}:{port}"
            st.wait_until_healthy(process, base_url, log)
            yield Served(process.pid, base_url, log)

    @contextlib.contextmanager
    def ceiling_server(self, workdir: Path) -> Iterator[Served]:
        port = st.free_port()
        command = [sys.executable, str(BENCH_DIR / "ceiling_app.py"), st.HOST, str(port)]
        command += ["--server", self.server, "--database", str(workdir / "lean.db")]
        command += ["--sign-mode", self.options.ceiling_sign_mode]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PETITION_")}
        log = workdir / "ceiling.log"
        with machine.pinned_process(command, env, BENCH_DIR, log) as process:
            base_url = f"http://{st.HOST}:{port}"
            count_reads.wait_until_answers(process, base_url + ceiling_app.PATH, log)
            yield Served(process.pid, base_url, log)

    def wait_for_mail(self, sink: Sink, expected: int) -> list[str]:
        """The confirmation paths of the mails of the signing phase, once all arrived."""
        started = time.monotonic()
        limit = min(started + self.options.mail_wait, self.deadline)
        while sink.count < expected and time.monotonic() < limit:
            time.sleep(0.2)
        waited = time.monotonic() - started
        tokens = sink.confirmation_paths()
        self.check("mails received (one per signature)", expected, sink.count)
        print(f"bench: {sink.count} of {expected} mails after {waited:.1f} s", file=sys.stderr)
        return tokens

    def check(self, name: str, expected: int, found: int) -> None:
        self.report.checks.append(Check(self.database, self.server, name, expected, found))

    def record(self, target: str, request: str, run: wrk.Run, cpu_seconds: float) -> None:
        self.pytest_seen.append(machine.other_pytest_processes())
        ceiling_name, share, p99_limit = GOALS.get(target, (None, None, None))
        ceiling = self.ceilings.get(ceiling_name) if ceiling_name else None
        rate = run.requests_per_second
        of_ceiling = round(rate / ceiling, 3) if ceiling else None
        goal, met = "", None
        if target == "confirmation":
            goal, met = f">= {CONFIRMATION_GOAL:,.0f}/s", rate >= CONFIRMATION_GOAL
        elif share is not None:
            goal = f">= {share}x {ceiling_name}" + (
                f", p99 < {p99_limit:.0f} ms" if p99_limit else ""
            )
            if of_ceiling is not None:
                met = of_ceiling >= share and (p99_limit is None or run.p99_ms < p99_limit)
        if target in ("lean signing", "constant JSON"):
            self.ceilings[target] = rate
        seconds = run.seconds or 1e-9
        self.report.results.append(
            Result(
                database=self.database,
                server=self.server,
                target=target,
                request=request,
                requests_per_second=round(rate, 1),
                p50_ms=round(run.p50_ms, 2),
                p99_ms=round(run.p99_ms, 2),
                max_ms=round(run.max_ms, 2),
                requests=run.ok,
                errors=run.error_count,
                error_kinds=run.errors,
                seconds=round(run.seconds, 2),
                ran_out=run.ran_out,
                server_cpu_share=round(cpu_seconds / seconds, 2),
                server_cpu_us_per_request=round(cpu_seconds / max(1, run.requests) * 1e6, 1),
                client_cpu_share=round(run.client_cpu_seconds / seconds, 2),
                ceiling=ceiling_name,
                of_ceiling=of_ceiling,
                goal=goal,
                goal_met=met,
            )
        )
        print(
            f"bench: {self.database}/{self.server} {target}: {rate:,.0f}/s, p99 "
            f"{run.p99_ms:.1f} ms, {run.error_count} errors",
            file=sys.stderr,
        )


@dataclass(frozen=True, slots=True)
class Served:
    pid: int
    base_url: str
    log: Path


# --- Targets ----------------------------------------------------------------------------------


class Runner:
    """The warm-up and timed run of each target, for one session's servers."""

    def __init__(self, session: Session, workdir: Path) -> None:
        self.session = session
        self.options = session.options
        self.workdir = workdir
        self.static, self.bodies_script = wrk.write_scripts(workdir)

    def get(self, target: str, base_url: str, path: str, pid: int) -> None:
        url = base_url + path
        with httpx.Client(timeout=st.REQUEST_TIMEOUT, trust_env=False) as client:
            status = client.get(url).status_code
        if status != 200:
            raise st.BenchError(f"GET {path} answered {status}, not 200")
        common = {"script": self.static, "connections": self.options.connections}
        wrk.get(url, seconds=self.options.warmup, cpu=CLIENT_CPU, **common)  # figures dropped
        before = machine.tree_cpu_seconds(pid)
        run = wrk.get(url, seconds=self.options.duration, cpu=CLIENT_CPU, **common)
        self.session.record(target, f"GET {path}", run, machine.tree_cpu_seconds(pid) - before)

    def post(
        self, base_url: str, lines: list[str], name: str, seconds: int, pid: int
    ) -> tuple[wrk.Run, float]:
        """One run of these requests, each sent once; and the server's CPU seconds meanwhile."""
        path = self.workdir / f"{name.replace(' ', '-')}.tsv"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        with machine.CpuSampler(pid) as cpu:
            run = wrk.post_bodies(
                base_url,
                path,
                script=self.bodies_script,
                seconds=seconds,
                connections=self.options.connections,
                cpu=CLIENT_CPU,
                expect=303,
            )
        return run, cpu.between(run.first, run.last)

    def lean_signing(self, base_url: str, pid: int) -> None:
        # The same fields and sizes as petition's forms: parsed alike, never checked.
        filler = self.session.solutions.payloads or ["x" * 600]
        forms = [("csrftoken=" + "x" * 128, "x" * 128 + "|" + "0" * 43)]

        def lines(first: int, count: int) -> list[str]:
            return [
                body_line(ceiling_app.SIGN_PATH, forms, i, filler[i % len(filler)])
                for i in range(first, first + count)
            ]

        # Its requests cost nothing to prepare: plenty, so that it never runs out.
        self.warm_then_time(
            "lean signing", base_url, pid, lines, f"POST {ceiling_app.SIGN_PATH}", headroom=4.0
        )

    def signing(self, petition: Served, database_url: str) -> Phase:
        forms = fetch_forms(petition.base_url, FORMS)
        shown = time.monotonic()
        solutions = self.session.solutions
        warmup_count = min(self.options.max_bodies, FIRST_GUESS * self.options.warmup)
        solutions.ensure(warmup_count, petition.base_url)
        # The stamps must be older than the form's minimum, as a person's would be (stamps
        # count whole seconds: one more).
        time.sleep(max(0.0, shown + Settings().form_min_seconds + 1.0 - time.monotonic()))

        def lines(first: int, count: int) -> list[str]:
            solutions.ensure(first + count, petition.base_url)
            payloads = solutions.payloads
            return [
                body_line(st.CAMPAIGN_PATH, forms, i, payloads[i])
                for i in range(first, first + count)
            ]

        sent, signed = self.warm_then_time(
            "signing", petition.base_url, petition.pid, lines, f"POST {st.CAMPAIGN_PATH}"
        )
        found = asyncio.run(db_counts(database_url))
        self.session.check("signatures stored = 303 answers", signed, found["signatures"])
        self.session.check("held by a defence", 0, found["quarantined"])
        self.session.check("proofs of work spent = 303 answers", signed, found["spent"])
        if sent != signed:
            self.session.check("signing POSTs answered 303 (all sent)", sent, signed)
        return Phase(signed=signed)

    def confirmation(self, petition: Served, database_url: str, phase: Phase) -> None:
        if not phase.tokens:
            raise st.BenchError("no confirmation link arrived: nothing to confirm")
        form = fetch_confirmation_form(petition.base_url, phase.tokens[0])
        tokens = phase.tokens
        # The warm-up takes a tenth of the links at most: they are all there is.
        warm = min(len(tokens) // 10, FIRST_GUESS * self.options.warmup)

        def lines(first: int, count: int) -> list[str]:
            chosen = tokens[first : first + count]
            return [
                "\t".join((path, form[0], address(first + i), language(i), form[1]))
                for i, path in enumerate(chosen)
            ]

        _, confirmed = self.warm_then_time(
            "confirmation",
            petition.base_url,
            petition.pid,
            lines,
            "POST /confirm/<token>",
            warmup_count=warm,
            available=len(tokens),
        )
        found = asyncio.run(db_counts(database_url))
        self.session.check("signatures confirmed = 303 answers", confirmed, found["confirmed"])

    def warm_then_time(
        self,
        target: str,
        base_url: str,
        pid: int,
        lines: Callable[[int, int], list[str]],
        request: str,
        *,
        warmup_count: int | None = None,
        available: int | None = None,
        headroom: float = 2.0,
    ) -> tuple[int, int]:
        """Warm up, size the timed run on the warm-up's rate, run it, record it; return the
        requests sent and those answered 303, warm-up included."""
        cap = self.options.max_bodies if available is None else available
        warm = warmup_count if warmup_count is not None else FIRST_GUESS * self.options.warmup
        warm = max(1, min(warm, cap))
        warmup, _ = self.post(
            base_url, lines(0, warm), f"{target} warm-up", self.options.warmup, pid
        )
        rate = warmup.requests_per_second or FIRST_GUESS
        # Room for the timed run to be faster than its warm-up (a short warm-up on a busy
        # machine is often slower); bodies never sent are not used.
        wanted = math.ceil(rate * self.options.duration * headroom) + 4 * self.options.connections
        first = warmup.sent
        room = cap - first if available is not None else cap
        if room < 1:
            raise st.BenchError(f"{target}: nothing left for the timed run after the warm-up")
        run, cpu = self.post(
            base_url, lines(first, min(wanted, room)), target, self.options.duration, pid
        )
        self.session.record(target, request, run, cpu)
        return warmup.sent + run.sent, warmup.ok + run.ok


def body_line(path: str, forms: Sequence[tuple[str, str]], index: int, payload: str) -> str:
    """One signing request: form `index` of the varied signers, with its proof of work."""
    cookie, token = forms[index % len(forms)]
    form = st.signature_form(index, token) | {"altcha": payload}
    return "\t".join((path, cookie, address(index), language(index), urlencode(form)))


def address(index: int) -> str:
    return str(FIRST_ADDRESS + index % ADDRESSES)


def language(index: int) -> str:
    return st.LANGUAGES[index % len(st.LANGUAGES)]


def fetch_forms(base_url: str, count: int) -> list[tuple[str, str]]:
    """`count` visits of the campaign page: (Cookie header, "token|stamp") each."""
    forms = []
    for _ in range(count):
        with httpx.Client(base_url=base_url, timeout=st.REQUEST_TIMEOUT, trust_env=False) as http:
            response = http.get(st.CAMPAIGN_PATH)
            token = st._CSRF_INPUT.search(response.text)
            stamp = st._STAMP_INPUT.search(response.text)
            cookie = http.cookies.get("csrftoken")
            if response.status_code != 200 or token is None or stamp is None or cookie is None:
                raise st.BenchError(f"GET {st.CAMPAIGN_PATH}: no form with token and stamp")
            forms.append((f"csrftoken={cookie}", f"{token.group(1)}|{stamp.group(1)}"))
    return forms


def fetch_confirmation_form(base_url: str, path: str) -> tuple[str, str]:
    """(Cookie header, body) of the confirmation page's form: its CSRF token fits every link."""
    with httpx.Client(base_url=base_url, timeout=st.REQUEST_TIMEOUT, trust_env=False) as http:
        response = http.get(path)
        token = st._CSRF_INPUT.search(response.text)
        cookie = http.cookies.get("csrftoken")
        if response.status_code != 200 or token is None or cookie is None:
            raise st.BenchError(f"GET /confirm/…: answered {response.status_code} without a form")
    return f"csrftoken={cookie}", urlencode({"_csrf_token": token.group(1)})


async def db_counts(database_url: str) -> dict[str, int]:
    """Rows the checks count; -1 where a query failed (a table the code under test renamed)."""
    url = make_url(database_url)
    driver = "sqlite+aiosqlite" if url.get_backend_name() == "sqlite" else "postgresql+asyncpg"
    engine = create_async_engine(url.set(drivername=driver))
    queries = {
        "signatures": "SELECT count(*) FROM signatures",
        "quarantined": "SELECT count(*) FROM signatures WHERE quarantine_rule IS NOT NULL",
        "confirmed": "SELECT count(*) FROM signatures WHERE status = 'confirmed'",
        "spent": "SELECT count(*) FROM spent_challenges",
    }
    found: dict[str, int] = {}
    try:
        for name, sql in queries.items():
            try:
                async with engine.connect() as connection:  # one each: a failure spoils none
                    found[name] = int(await connection.scalar(text(sql)) or 0)
            except SQLAlchemyError:
                found[name] = -1
    finally:
        await engine.dispose()
    return found


# --- The mail sink ----------------------------------------------------------------------------


class Sink:
    """Accepts every message and keeps it whole; links are read from them after signing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the controller runs its own event loop in a thread
        self._messages: list[bytes] = []
        self.port = 0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._messages.append(bytes(envelope.content))
        return "250 Message accepted for delivery"

    def confirmation_paths(self) -> list[str]:
        with self._lock:
            messages = list(self._messages)
        paths = []
        parser = BytesParser(policy=policy.default)
        for raw in messages:
            message = parser.parsebytes(raw)
            body = message.get_body(("plain",))
            content = body.get_content() if isinstance(body, EmailMessage) else ""
            match = CONFIRM_LINK.search(content)
            if match is not None:
                paths.append(match.group(0))
        return list(dict.fromkeys(paths))  # each link once, in the order mailed


class _Port(Protocol):
    port: int


_S = TypeVar("_S", bound=_Port)


@contextlib.contextmanager
def mail_sink(sink: _S) -> Iterator[_S]:
    """`sink` (an aiosmtpd handler) answering SMTP on a free loopback port, in a thread."""
    controller = Controller(sink, hostname=st.HOST, port=st.free_port())
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


# --- Figures ----------------------------------------------------------------------------------


def print_report(r: Report) -> None:
    print("petition side-by-side benchmark")
    print(f"  revision    {r.revision}")
    print(f"  machine     {r.machine}, Python {r.python}")
    print(f"  client      {r.wrk} on CPU {CLIENT_CPU}, {r.connections} connections")
    print(f"  servers     petition: {r.petition_server}; ceiling: one worker on CPU {SERVER_CPU}")
    print(f"  runs        {r.warmup_seconds} s warm-up, then {r.duration_seconds} s measured")
    probe = r.pow.get("probe")
    if probe:
        print(
            f"  pow         cost {r.pow['cost']} (check {probe['check_ms']:.3f} ms; at the "
            f"default {probe['default_cost']}: {probe['default_check_ms']:.3f} ms)"
        )
    else:
        print(f"  pow         cost {r.pow['cost']} (given)")
    print("  settings    " + ", ".join(f"{k}={v}" for k, v in r.settings.items()))
    for load in r.load:
        print(
            f"  load        1-min average {load.load_before[0]:.2f} -> {load.load_after[0]:.2f},"
            f" other pytest processes seen: {load.other_pytest_processes}"
        )
    header = (
        f"\n  {'database':<10} {'server':<8} {'target':<14} {'requests/s':>10} {'p50 ms':>7}"
        f" {'p99 ms':>7} {'errors':>6} {'s':>5} {'CPU':>5} {'µs/req':>7} {'ratio':>7}  goal"
    )
    print(header)
    for x in r.results:
        ratio = "-" if x.of_ceiling is None else f"{x.of_ceiling:.2f}x"
        met = {None: "", True: "met", False: "NOT met"}[x.goal_met]
        short = "*" if x.ran_out and x.seconds < r.duration_seconds - 0.5 else " "
        print(
            f"  {x.database:<10} {x.server:<8} {x.target:<14} {x.requests_per_second:>10,.0f}"
            f" {x.p50_ms:>7.1f} {x.p99_ms:>7.1f} {x.errors:>6} {x.seconds:>4.1f}{short}"
            f" {x.server_cpu_share:>5.0%} {x.server_cpu_us_per_request:>7.0f} {ratio:>7}"
            f"  {x.goal} {met}".rstrip()
        )
    if any(x.ran_out and x.seconds < r.duration_seconds - 0.5 for x in r.results):
        print("  * every prepared request was sent before the duration was over")
    for x in r.results:
        if x.error_kinds:
            print(f"  {x.database}/{x.server} {x.target}: errors {x.error_kinds}")
    print()
    for c in r.checks:
        mark = "ok" if c.ok else "MISMATCH"
        print(f"  check {c.database}/{c.server}: {c.name}: {c.found} of {c.expected} {mark}")
    for key, lines in r.server_log_problems.items():
        print(f"  server log {key}: {len(lines)} warning/error lines")
        for line in lines[:3]:
            print(f"    {line}")


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
