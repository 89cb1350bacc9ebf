"""Scale-out: one web process against two, each beside one `petition worker`, on PostgreSQL.

For each configuration, a fresh PostgreSQL schema (migrated), a flushed Redis database, an SMTP
sink on loopback, then `petition serve` (PETITION_WORKERS=1 or 2: uvicorn's worker processes
on one port, PETITION_RUN_MAIL_SENDER=0) and one `petition worker`, which sends the mail and
runs the scheduled jobs. Measured with wrk, as `side_by_side.py` measures (its runner is
reused):

    signing      POST /c/bench                  every defence, a proof of work per request
    count JSON   GET /api/v1/campaigns/bench

and then whether every signer's confirmation mail left exactly once (the sink's recipients and
Message-IDs against the signatures stored, the outbox empty). See bench/README.md, "Scale-out".

    .venv/bin/python bench/scale_out.py --database-url postgresql://…/bench
        [--redis-url redis://127.0.0.1:6379/12] [--live-backend redis|postgresql]
        [--web-processes 1,2] [--duration SECONDS] [--warmup SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _live_server as live  # its directory is first on sys.path when a bench runs as a script
import _machine as machine
import _pow_solve as pow_solve
import _wrk as wrk
import count_reads
import outbox_drain
import redis
import side_by_side as sbs
import sign_throughput as st
from _machine import CLIENT_CPU
from sqlalchemy import func, select, text

from petition import tokens
from petition.db import create_read_engine
from petition.models import OutboxMail

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
LIVE_BACKENDS = ("redis", "postgresql")
READY_TIMEOUT = 60.0  # seconds for every web process and the worker to say they are up
GRACE = 2.0  # seconds to wait once the outbox is empty, for a mail sent twice to show up
# uvicorn says this once per worker process when its lifespan has started.
_WEB_READY = "Application startup complete"
_WORKER_READY = "worker started"


@dataclass(frozen=True, slots=True)
class Mail:
    """What left for one configuration, against the signatures stored."""

    configuration: str
    signatures: int  # rows in the database
    signers: int  # of the bench's addresses, those whose keyed hash is a stored signature
    received: int  # messages at the sink
    exactly_once: int  # signers whose mail arrived once
    to_others: int  # messages to an address that signed nothing (or a second copy)
    message_ids: int  # distinct Message-IDs among the messages
    outbox: dict[str, int]  # rows by status at the end
    outbox_kept: int  # finished rows still holding an address or content
    at_signing_end: int  # messages at the sink by the timed signing run's last answer
    drain_seconds: float | None  # from then to the last mail (None: the outbox did not empty)
    worker_cpu_ms_per_mail: float | None

    @property
    def every_mail_once(self) -> bool:
        return (
            self.signers == self.signatures
            and self.exactly_once == self.signers == self.received == self.message_ids
            and self.to_others == 0
            and self.outbox.get("pending", 0) == 0
            and self.outbox.get("failed", 0) == 0
            and self.outbox_kept == 0
        )


@dataclass(frozen=True, slots=True)
class Split:
    """Where the CPU went during one timed run (the count JSON's: with its warm-up)."""

    configuration: str
    target: str
    shares: list[float]  # of the web processes' CPU, one per process, largest first
    web_cpu_seconds: float
    worker_cpu_seconds: float
    machine_busy: float  # share of all the machine's CPUs busy meanwhile (anyone's work)


@dataclass(slots=True)
class Window:
    start: float | None = None  # time.monotonic()
    end: float | None = None


@dataclass(slots=True)
class Report(sbs.Report):
    command: str = ""
    cpu_count: int = 0
    database_version: str = ""
    live_backend: str = ""
    redis_url: str = ""
    mail: list[Mail] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    # Killed (SIGTERM), it stops the processes it started as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupted)
    return st.conclude(
        lambda: run(options, deadline=time.monotonic() + options.duration_limit),
        print_report,
        options.json,
        stopped="processes stopped",
        ok=lambda r: (
            all(x.errors == 0 for x in r.results)
            and all(c.ok for c in r.checks)
            and all(m.every_mail_once for m in r.mail)
        ),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        required=True,
        help="postgresql://… on loopback: ITS public SCHEMA IS WIPED at every configuration",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"Redis on loopback for the shared limits (and the live backend): THIS DATABASE IS "
        f"FLUSHED at every configuration; default {DEFAULT_REDIS_URL}",
    )
    parser.add_argument(
        "--live-backend",
        choices=LIVE_BACKENDS,
        default="redis",
        help="PETITION_LIVE_BACKEND of every process (default redis: see bench/README.md)",
    )
    parser.add_argument(
        "--web-processes",
        default="1,2",
        metavar="LIST",
        help="PETITION_WORKERS of each configuration, in order (default 1,2)",
    )
    parser.add_argument("--duration", type=st._positive_int, default=10, metavar="SECONDS")
    parser.add_argument("--warmup", type=st._positive_int, default=3, metavar="SECONDS")
    parser.add_argument("--connections", type=st._positive_int, default=64, metavar="C")
    parser.add_argument(
        "--pow-cost",
        default="auto",
        help="PETITION_POW_COST; auto: the lowest whose check costs the server what the "
        "default's does (as side_by_side.py)",
    )
    parser.add_argument(
        "--max-bodies",
        type=st._positive_int,
        default=60000,
        metavar="N",
        help="signatures prepared for one timed run at most",
    )
    parser.add_argument(
        "--server-cpus",
        default="0,1",
        metavar="LIST",
        help=f"CPUs of the web processes and the worker (taskset -c); wrk and the bench run "
        f"on CPU {CLIENT_CPU}",
    )
    parser.add_argument(
        "--mail-wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="after signing, for every mail to arrive and the outbox to empty",
    )
    parser.add_argument("--duration-limit", type=float, default=1800.0, metavar="SECONDS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    if not options.database_url.startswith(("postgresql", "postgres:")):
        parser.error("--database-url must be postgresql://… (the bench runs on PostgreSQL)")
    if urlsplit(options.redis_url).hostname not in st.LOOPBACK_HOSTS:
        parser.error("--redis-url must be on this machine (127.0.0.1)")
    try:
        options.webs = [int(n) for n in options.web_processes.split(",") if n.strip()]
    except ValueError:
        parser.error("--web-processes is a comma-separated list of numbers")
    if not options.webs or min(options.webs) < 1:
        parser.error("--web-processes needs numbers of 1 or more")
    if options.pow_cost != "auto" and not options.pow_cost.isdigit():
        parser.error("--pow-cost is auto or a positive number")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian: apt-get install wrk util-linux)")
    return options


# --- The run ----------------------------------------------------------------------------------


def run(options: argparse.Namespace, deadline: float) -> Report:
    live.raise_fd_limit()
    # This process (and its SMTP sink) beside wrk; the processes under test may use every CPU.
    os.sched_setaffinity(0, {CLIENT_CPU})
    cpus = os.cpu_count() or 1
    flush_redis(options.redis_url)  # reachable, before anything long starts
    with pow_solve.pool(cpus) as executor:
        cost, probe = sbs.choose_pow_cost(options, executor)
        report = Report(
            revision=st.source_revision(),
            machine=f"{cpus} CPUs, {platform.platform()}",
            python=platform.python_version(),
            wrk=count_reads.client_name(argparse.Namespace(client="wrk", threads=1)),
            connections=options.connections,
            petition_server=f"uvicorn, web processes and worker on CPUs {options.server_cpus}",
            warmup_seconds=options.warmup,
            duration_seconds=options.duration,
            pow={"cost": cost, "probe": None if probe is None else asdict(probe)},
            settings=sbs.bench_settings(cost),
            command=shlex.join(sys.orig_argv),
            cpu_count=cpus,
            live_backend=options.live_backend,
            redis_url=options.redis_url,
        )
        secret = secrets.token_urlsafe(48)  # one for every configuration: solutions agree
        solutions = sbs.Solutions(executor, cpus)
        for webs in options.webs:
            if time.monotonic() >= deadline:
                raise st.BenchError("--duration-limit reached")
            session = ScaleSession(options, report, solutions, secret, cost, webs, deadline)
            session.run(options.database_url)
    return report


def flush_redis(url: str) -> None:
    """Empty the bench's Redis database: each configuration starts with no count held."""
    client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        client.flushdb()
    except (redis.RedisError, OSError) as exc:
        raise st.BenchError(f"cannot flush the Redis database {url}: {exc}") from exc
    finally:
        client.close()


def label(webs: int) -> str:
    return f"{webs} web + worker"


class ScaleSession(sbs.Session):
    """One configuration: its processes, signing, the mail, then count reads."""

    def __init__(
        self,
        options: argparse.Namespace,
        report: Report,
        solutions: sbs.Solutions,
        secret: str,
        cost: int,
        webs: int,
        deadline: float,
    ) -> None:
        super().__init__(options, report, solutions, secret, cost, label(webs), deadline)
        self.scale = report
        self.webs = webs
        self.last_answer: dict[str, float | None] = {}  # timed POST run → time.monotonic()

    def run(self, database_url: str | None) -> None:
        assert database_url is not None  # parse_args requires it
        load_before = os.getloadavg()
        self.pytest_seen = [machine.other_pytest_processes()]
        with tempfile.TemporaryDirectory(prefix="petition-scale-") as temporary:
            workdir = Path(temporary)
            database = st.prepare_database(database_url, workdir)
            self.database = database.kind
            self.scale.database_version = database.version
            flush_redis(self.options.redis_url)
            logs = {"web": workdir / "web.log", "worker": workdir / "worker.log"}
            with contextlib.ExitStack() as processes:  # left in reverse: worker, web, sink
                sink = processes.enter_context(sbs.mail_sink(Sink()))
                env = self.env(workdir, database, sink.port)
                st.create_campaign(env, workdir)
                web = processes.enter_context(self.web(env, logs["web"]))
                worker = processes.enter_context(self.worker(env, logs["worker"]))
                print(f"bench: {self.server}: processes up", file=sys.stderr)
                runner = Runner(self, workdir, worker.pid)
                self.measure_all(runner, web, worker, sink, database.url)
            # Read once the processes have stopped: their shutdown may have something to say.
            for name, log in logs.items():
                self.report.server_log_problems[f"{self.server}/{name}"] = st.log_problems(log)
        self.report.load.append(sbs.Load(load_before, os.getloadavg(), max(self.pytest_seen)))

    def env(self, workdir: Path, database: st.Database, smtp_port: int) -> dict[str, str]:
        env = st.server_env(workdir, database.url, st.free_port(), smtp_port)
        # sign_throughput.py lifts these for its one address; here, as in side_by_side.py,
        # every defence runs at the product's thresholds.
        for lifted in ("FORM_MIN_SECONDS", "NOJS_BURST_LIMIT", "NOJS_SUSTAINED_LIMIT"):
            del env[f"PETITION_{lifted}"]
        env |= sbs.bench_settings(self.cost)
        return env | {
            "PETITION_SECRET_KEY": self.secret,
            "PETITION_SERVER": "uvicorn",
            "PETITION_WORKERS": str(self.webs),
            "PETITION_RUN_MAIL_SENDER": "0",  # the worker sends (the worker ignores this)
            "PETITION_REDIS_URL": self.options.redis_url,
            "PETITION_LIVE_BACKEND": self.options.live_backend,
        }

    @contextlib.contextmanager
    def web(self, env: dict[str, str], log: Path) -> Iterator[sbs.Served]:
        command = st.petition_command("serve")
        cpus = self.options.server_cpus
        with machine.pinned_process(command, env, st.PROJECT_ROOT, log, cpus) as process:
            base_url = f"http://{st.HOST}:{env['PETITION_PORT']}"
            st.wait_until_healthy(process, base_url, log)
            # /healthz answers from the first process up: wait for every one of them.
            wait_for_lines(process, log, _WEB_READY, self.webs)
            yield sbs.Served(process.pid, base_url, log)

    @contextlib.contextmanager
    def worker(self, env: dict[str, str], log: Path) -> Iterator[sbs.Served]:
        command = st.petition_command("worker")
        cpus = self.options.server_cpus
        with machine.pinned_process(command, env, st.PROJECT_ROOT, log, cpus) as process:
            wait_for_lines(process, log, _WORKER_READY, 1)
            yield sbs.Served(process.pid, "", log)

    def measure_all(
        self,
        runner: Runner,
        web: sbs.Served,
        worker: sbs.Served,
        sink: Sink,
        database_url: str,
    ) -> None:
        worker_before = machine.tree_cpu_seconds(worker.pid)
        runner.signing(web, database_url)  # its timed run measured by Runner.post
        emptied = self.wait_for_outbox(sink, database_url)
        worker_cpu = machine.tree_cpu_seconds(worker.pid) - worker_before
        self.check_mail(sink, database_url, emptied, worker_cpu)
        # wrk's warm-up and timed run, back to back: both under the same load.
        with self.split("count JSON", web.pid, worker.pid):
            runner.get("count JSON", web.base_url, sbs.COUNT_PATH, web.pid)

    @contextlib.contextmanager
    def split(self, target: str, web_pid: int, worker_pid: int) -> Iterator[Window]:
        """The CPU of each web process, of the worker and of the whole machine while inside,
        or between the window's moments when the caller sets them (a POST run's first request
        and last answer: wrk itself runs on for its drain time)."""
        window = Window()
        entered = time.monotonic()
        with contextlib.ExitStack() as stack:
            webs = [stack.enter_context(machine.CpuSampler(p)) for p in web_processes(web_pid)]
            worker = stack.enter_context(machine.CpuSampler(worker_pid))
            whole = stack.enter_context(MachineSampler())
            yield window
        seconds = (
            window.end - window.start
            if window.start is not None and window.end is not None
            else time.monotonic() - entered
        )
        used = [sampler.between(window.start, window.end) for sampler in webs]
        total = sum(used)
        shares = sorted((u / total if total else 0.0 for u in used), reverse=True)
        busy = whole.between(window.start, window.end) / max(1e-9, seconds * self.scale.cpu_count)
        self.scale.splits.append(
            Split(
                self.server,
                target,
                [round(share, 3) for share in shares],
                round(total, 2),
                round(worker.between(window.start, window.end), 2),
                round(busy, 3),
            )
        )

    def wait_for_outbox(self, sink: Sink, database_url: str) -> bool:
        """Until the sink holds a mail per signature and the outbox has no mail left to send
        nor any address or content left to erase; False if --mail-wait passes first."""
        limit = min(time.monotonic() + self.options.mail_wait, self.deadline)
        expected = asyncio.run(sbs.db_counts(database_url))["signatures"]
        while time.monotonic() < limit:
            pending, kept = asyncio.run(outbox_state(database_url))
            if sink.count >= expected and pending == 0 and kept == 0:
                return True
            time.sleep(0.2)
        return False

    def check_mail(
        self,
        sink: Sink,
        database_url: str,
        emptied: bool,
        worker_cpu: float,
    ) -> None:
        time.sleep(GRACE)  # a second copy of a mail would come now, if ever
        hashes, by_status, kept = asyncio.run(stored(database_url))
        secret = self.secret.encode()
        # The bench's signers are bench-<n>@example.org, n < the solutions prepared: those
        # whose keyed hash is stored are the signatures made.
        candidates = (st.signature_form(n, "")["email"] for n in range(self.prepared()))
        signers = {a for a in candidates if tokens.email_hash(secret, a) in hashes}
        envelopes = sink.envelopes()
        received = Counter(a for _, recipients, _ in envelopes for a in recipients)
        once = sum(1 for a in signers if received[a] == 1)
        others = sum(received.values()) - once
        message_ids = len({mid for _, _, mid in envelopes if mid})
        # Against the last answer of the timed signing run (the warm-up's mails came before).
        end = self.last_answer.get("signing")
        arrivals = [moment for moment, _, _ in envelopes]
        at_end = sum(1 for moment in arrivals if end is not None and moment <= end)
        drain = None
        if emptied and end is not None and arrivals:
            drain = max(0.0, max(arrivals) - end)
        sent = by_status.get("sent", 0)
        mail = Mail(
            configuration=self.server,
            signatures=len(hashes),
            signers=len(signers),
            received=len(envelopes),
            exactly_once=once,
            to_others=others,
            message_ids=message_ids,
            outbox=by_status,
            outbox_kept=kept,
            at_signing_end=at_end,
            drain_seconds=None if drain is None else round(drain, 2),
            worker_cpu_ms_per_mail=round(worker_cpu / sent * 1000, 2) if sent else None,
        )
        self.scale.mail.append(mail)
        print(
            f"bench: {self.server}: {mail.received} mails for {mail.signatures} signatures, "
            f"{'every one once' if mail.every_mail_once else 'NOT every one once'}",
            file=sys.stderr,
        )

    def prepared(self) -> int:
        return len(self.solutions.payloads)


class Runner(sbs.Runner):
    """side_by_side.py's runner; around each timed POST run, the CPU of every process."""

    def __init__(self, session: ScaleSession, workdir: Path, worker_pid: int) -> None:
        super().__init__(session, workdir)
        self.owner = session
        self.worker_pid = worker_pid

    def post(
        self, base_url: str, lines: list[str], name: str, seconds: int, pid: int
    ) -> tuple[wrk.Run, float]:
        if name.endswith("warm-up"):
            return super().post(base_url, lines, name, seconds, pid)
        with self.owner.split(name, pid, self.worker_pid) as window:
            run, cpu = super().post(base_url, lines, name, seconds, pid)
            window.start, window.end = run.first, run.last
        self.owner.last_answer[name] = run.last
        return run, cpu


def web_processes(pid: int) -> list[int]:
    """The processes answering requests: uvicorn's workers (not its supervisor nor
    multiprocessing's resource tracker), or the one process."""
    workers = [child for child in machine.descendants(pid) if not _is_resource_tracker(child)]
    return workers or [pid]


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class MachineSampler(machine.CpuSampler):
    """The whole machine's busy CPU seconds (every CPU, anyone's work), sampled likewise."""

    def __init__(self) -> None:
        super().__init__(0)
        self._tick = os.sysconf("SC_CLK_TCK")

    def _sample(self) -> None:
        # /proc/stat's first line: user nice system idle iowait irq softirq steal (ticks).
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        busy = sum(fields) - fields[3] - fields[4]
        self._samples.append((time.monotonic(), busy / self._tick))


def wait_for_lines(process: Any, log: Path, needle: str, count: int) -> None:
    """Until `needle` is in the log `count` times (each process up), READY_TIMEOUT at most."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise st.BenchError(f"{log.name}: exited with {process.returncode}:\n{tail(log)}")
        if log.read_text(encoding="utf-8", errors="replace").count(needle) >= count:
            return
        time.sleep(0.1)
    raise st.BenchError(f"{log.name}: {needle!r} not seen {count} time(s):\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


async def outbox_state(database_url: str) -> tuple[int, int]:
    engine = create_read_engine(database_url)
    try:
        return await outbox_drain.outbox_state(engine)
    finally:
        await engine.dispose()


async def stored(database_url: str) -> tuple[set[str], dict[str, int], int]:
    """The signatures' keyed email hashes, the outbox's rows by status, and the finished rows
    that still hold an address or content."""
    engine = create_read_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT email_hash FROM signatures"))
            hashes = {str(row[0]) for row in rows}
            statuses = await connection.execute(
                select(OutboxMail.status, func.count()).group_by(OutboxMail.status)
            )
            by_status = {str(status): int(n) for status, n in statuses}
        _, kept = await outbox_drain.outbox_state(engine)
    finally:
        await engine.dispose()
    return hashes, by_status, kept


# --- The mail sink ----------------------------------------------------------------------------


class Sink:
    """Accepts every message; keeps when it came, its envelope's recipients and its head."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the controller runs its own event loop in a thread
        self._received: list[tuple[float, tuple[str, ...], bytes]] = []
        self.port = 0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._received)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.monotonic()
        head = bytes(envelope.content).split(b"\r\n\r\n", 1)[0]
        with self._lock:
            self._received.append((arrived, tuple(envelope.rcpt_tos), head))
        return "250 Message accepted for delivery"

    def envelopes(self) -> list[tuple[float, tuple[str, ...], str]]:
        """(time.monotonic() of arrival, recipients, Message-ID) of every message."""
        with self._lock:
            received = list(self._received)
        parser = BytesHeaderParser()
        return [
            (moment, to, str(parser.parsebytes(head)["Message-ID"] or ""))
            for moment, to, head in received
        ]


# --- Figures ----------------------------------------------------------------------------------


def print_report(r: Report) -> None:
    print("petition scale-out benchmark\n")
    print(f"    {r.command}\n")
    print(f"- revision {r.revision}; {r.machine}; os.cpu_count() = {r.cpu_count}")
    print(f"- Python {r.python}; PostgreSQL {r.database_version}; {r.wrk} on CPU {CLIENT_CPU}")
    print(f"- {r.petition_server}; PETITION_LIVE_BACKEND={r.live_backend}; Redis {r.redis_url}")
    print(
        f"- the web processes, the worker, PostgreSQL, Redis, wrk and this bench share these "
        f"{r.cpu_count} CPUs"
    )
    print(
        f"- {r.connections} connections; {r.warmup_seconds} s warm-up then {r.duration_seconds} s"
        f" per measure; proof-of-work cost {r.pow['cost']}"
    )
    for mail_of, load in zip(r.mail, r.load, strict=False):
        print(
            f"- {mail_of.configuration}: 1-minute load average {load.load_before[0]:.2f} -> "
            f"{load.load_after[0]:.2f}; other pytest processes seen: {load.other_pytest_processes}"
        )
    print()
    results = {(x.server, x.target): x for x in r.results}
    mails = {m.configuration: m for m in r.mail}
    print(
        "| configuration | signing /s | p50 ms | p99 ms | count JSON /s | p99 ms "
        "| every mail once | errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in dict.fromkeys(x.server for x in r.results):
        sign, count = results.get((name, "signing")), results.get((name, "count JSON"))
        mail = mails.get(name)
        once = "?" if mail is None else ("yes" if mail.every_mail_once else "**no**")
        errors = sum(x.errors for x in (sign, count) if x is not None)
        print(
            f"| {name} | {_rate(sign)} | {_ms(sign, 'p50_ms')} | {_ms(sign, 'p99_ms')} "
            f"| {_rate(count)} | {_ms(count, 'p99_ms')} | {once} | {errors} |"
        )
    print()
    print(
        "| configuration | target | web CPU (1 core = 100 %) | µs/req | split between web "
        "processes | worker CPU s | machine busy |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    splits = {(s.configuration, s.target): s for s in r.splits}
    for x in r.results:
        s = splits.get((x.server, x.target))
        split = " / ".join(f"{share:.0%}" for share in s.shares) if s else "?"
        worker = f"{s.worker_cpu_seconds:.1f}" if s else "?"
        busy = f"{s.machine_busy:.0%}" if s else "?"
        print(
            f"| {x.server} | {x.target} | {x.server_cpu_share:.0%} "
            f"| {x.server_cpu_us_per_request:,.0f} | {split} | {worker} | {busy} |"
        )
    print()
    print(
        "| configuration | signatures | mails received | signers mailed once | other mails "
        "| distinct Message-IDs | outbox at the end | mailed by the last signing answer "
        "| last mail after it, s "
        "| worker ms/mail |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in r.mail:
        statuses = {"pending": 0, "failed": 0} | m.outbox
        outbox = ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items()))
        drain = "outbox not empty" if m.drain_seconds is None else f"{m.drain_seconds:.1f}"
        per_mail = "?" if m.worker_cpu_ms_per_mail is None else f"{m.worker_cpu_ms_per_mail:.2f}"
        print(
            f"| {m.configuration} | {m.signatures:,} | {m.received:,} | {m.exactly_once:,} "
            f"| {m.to_others} | {m.message_ids:,} | {outbox}; {m.outbox_kept} unerased "
            f"| {m.at_signing_end:,} | {drain} | {per_mail} |"
        )
    print()
    for x in r.results:
        if x.error_kinds:
            print(f"  {x.server} {x.target}: errors {x.error_kinds}")
    for c in r.checks:
        mark = "ok" if c.ok else "MISMATCH"
        print(f"  check {c.server}: {c.name}: {c.found} of {c.expected} {mark}")
    for key, lines in r.server_log_problems.items():
        if lines:
            print(f"  log {key}: {len(lines)} warning/error lines")
            for line in lines[:3]:
                print(f"    {line}")


def _rate(x: sbs.Result | None) -> str:
    return "?" if x is None else f"{x.requests_per_second:,.0f}"


def _ms(x: sbs.Result | None, key: str) -> str:
    return "?" if x is None else f"{getattr(x, key):.1f}"


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
