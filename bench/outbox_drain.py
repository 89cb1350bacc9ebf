"""Outbox drain: how fast queued mail leaves once a sender process gets to it.

Queues N confirmation mails straight into a fresh database, starts `petition worker` (or a
bare Sender process) against an SMTP sink on loopback, and times the outbox until it is empty
and every sent mail is erased. See bench/README.md.

    .venv/bin/python bench/outbox_drain.py [--mails N] [--command worker|sender] [--rendered]
        [--batch-size B] [--database-url URL] [--duration-limit SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sign_throughput as st  # its directory is first on sys.path when this runs as a script
from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select

from petition import i18n, mail, outbox, templating
from petition.app import build_services
from petition.db import create_engine, create_read_engine, create_session_factory
from petition.models import OutboxMail, OutboxStatus, utcnow
from petition.settings import Settings

QUEUE_BATCH = 2000  # mails per queuing transaction: a few big commits, as a burst of signing
POLL_INTERVAL = 0.05
GRACE = 1.0  # seconds to wait after the outbox is empty, for a duplicate to show up


@dataclass(frozen=True, slots=True)
class Report:
    revision: str
    database: str
    database_version: str
    machine: str
    command: str
    rendered_when_queued: bool  # True: rendered by the bench, as signing did before the worker
    batch_size: int
    mails: int
    queue_seconds: float
    startup_seconds: float  # sender process started -> first mail at the sink
    drain_seconds: float | None  # first mail at the sink -> outbox empty and erased
    mails_per_second: float | None
    sender_cpu_share: float | None  # sender CPU seconds / drain seconds (1.0 = one core)
    sender_cpu_ms_per_mail: float | None  # steadier than the rate on a busy machine
    mails_received: int
    duplicates: int
    left_in_outbox: int
    not_erased: int
    stop_seconds: float
    exit_code: int | None
    sender_log_problems: list[str]


class ArrivalsHandler:
    """aiosmtpd handler that accepts every message and keeps its count and arrival times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the controller runs its own loop in a thread
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.count += 1
            self.last = time.perf_counter()
            self.first = self.first or self.last
        return "250 Message accepted for delivery"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if options.as_sender:
        asyncio.run(bare_sender(options.batch_size))
        return 0
    return st.conclude(
        lambda: run(options),
        print_report,
        options.json,
        stopped="sender stopped",
        ok=lambda r: r.drain_seconds is not None and not (r.duplicates or r.not_erased),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark how fast the outbox drains.")
    parser.add_argument("--mails", type=int, default=10_000, metavar="N")
    parser.add_argument(
        "--command",
        choices=["worker", "sender"],
        default="worker",
        help="the sender's process: `petition worker`, or a bare Sender (no scheduled jobs: "
        "the same code before and after `petition worker` existed)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        help="with --command sender: mails claimed per batch (default: outbox.BATCH_SIZE)",
    )
    parser.add_argument("--as-sender", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--rendered",
        action="store_true",
        help="queue mails rendered by the bench, as signing did before, for the sender to send",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://… on loopback (ITS public SCHEMA IS WIPED), or sqlite:///… of a file "
        "that does not exist yet; default: SQLite in a fresh temporary directory",
    )
    parser.add_argument("--duration-limit", type=float, default=600.0, metavar="SECONDS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    if options.mails < 1 or options.duration_limit <= 0:
        parser.error("--mails and --duration-limit must be positive")
    wrong_size = options.batch_size is not None and (
        options.batch_size < 1 or (options.command != "sender" and not options.as_sender)
    )
    if wrong_size:
        parser.error("--batch-size takes a positive number, with --command sender")
    return options


def run(options: argparse.Namespace) -> Report:
    # ExitStack unwinds in reverse: the sender stops, then the sink, then the temporary files.
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petition-bench-")))
        database = st.prepare_database(options.database_url, workdir)
        handler, smtp_port = stack.enter_context(sink())
        env = st.server_env(workdir, database.url, st.free_port(), smtp_port)
        st.run_cli(env, "db", "upgrade")
        started = time.perf_counter()
        asyncio.run(queue(database.url, options.mails, rendered=options.rendered))
        queue_seconds = time.perf_counter() - started
        log_path = workdir / "sender.log"
        with log_path.open("wb") as log:
            sender = subprocess.Popen(  # noqa: S603  # fixed command line, no shell
                sender_command(options.command, options.batch_size),
                env=env,
                cwd=st.PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(st.stop_process, sender)
            drained = asyncio.run(watch(database.url, sender, handler, options))
            stop_seconds, exit_code = stop(sender)
        return Report(
            revision=st.source_revision(),
            database=database.kind,
            database_version=database.version,
            machine=f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.platform()}",
            command=options.command,
            rendered_when_queued=options.rendered,
            batch_size=options.batch_size or outbox.BATCH_SIZE,
            mails=options.mails,
            queue_seconds=round(queue_seconds, 2),
            startup_seconds=round(drained.first_mail - drained.started, 2),
            drain_seconds=_rounded(drained.seconds),
            mails_per_second=(
                round(options.mails / drained.seconds, 1) if drained.seconds else None
            ),
            sender_cpu_share=(
                round(drained.cpu / drained.seconds, 2)
                if drained.cpu is not None and drained.seconds
                else None
            ),
            sender_cpu_ms_per_mail=(
                round(drained.cpu / options.mails * 1000, 2)
                if drained.cpu is not None and drained.seconds
                else None
            ),
            mails_received=handler.count,
            duplicates=max(0, handler.count - options.mails),
            left_in_outbox=drained.left,
            not_erased=drained.not_erased,
            stop_seconds=round(stop_seconds, 2),
            exit_code=exit_code,
            sender_log_problems=st.log_problems(log_path),
        )


def sender_command(command: str, batch_size: int | None) -> list[str]:
    if command != "sender":
        return st.petition_command(command)
    size = [] if batch_size is None else ["--batch-size", str(batch_size)]
    return [sys.executable, str(Path(__file__).resolve()), "--as-sender", *size]


async def bare_sender(batch_size: int | None) -> None:
    """The child process of `--command sender`: the site's own Sender, until SIGTERM."""
    if batch_size is not None:
        outbox.BATCH_SIZE = batch_size  # read at each claim
    services = build_services(Settings.from_env(), utcnow)
    task = asyncio.create_task(services.sender.run())
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, services.sender.stop)
    try:
        await task
    finally:
        await services.close()


@contextlib.contextmanager
def sink() -> Iterator[tuple[ArrivalsHandler, int]]:
    handler = ArrivalsHandler()
    controller = Controller(handler, hostname=st.HOST, port=st.free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


# --- Queuing ----------------------------------------------------------------------------------


async def queue(url: str, total: int, *, rendered: bool) -> None:
    """Queue `total` confirmation mails in a few big transactions, half French, half English."""
    engine = create_engine(url)  # the product's own: the same SQLite pragmas as the server
    sessions = create_session_factory(engine)
    env, catalogs = templating.mail_environment(), i18n.load_catalogs()
    now = datetime.now(UTC)
    try:
        for start in range(0, total, QUEUE_BATCH):
            numbers = range(start, min(start + QUEUE_BATCH, total))
            async with sessions() as session, session.begin():
                if rendered:
                    rows = [rendered_row(env, catalogs, n, now) for n in numbers]
                    await session.execute(insert(OutboxMail), rows)
                    continue
                for n in numbers:
                    await outbox.enqueue_unrendered(
                        session,
                        template="confirm",
                        to=address(n),
                        locale=locale(n),
                        context=context(n, now),
                        now=now,
                    )
    finally:
        await engine.dispose()


def address(n: int) -> str:
    return f"bench-{n}@example.org"


def locale(n: int) -> str:
    return i18n.LOCALES[n % len(i18n.LOCALES)]


def context(n: int, now: datetime) -> dict[str, object]:
    """What signing puts in a confirmation mail (the tokens are only shaped like real ones)."""
    token = f"{n:043d}"
    return {
        "campaign_title": "Bench: l’hôpital d’abord",
        "campaign_url": f"http://{st.HOST}/c/{st.SLUG}",
        "first_name": st.FIRST_NAMES[n % len(st.FIRST_NAMES)],
        "withdraw_url": f"http://{st.HOST}/withdraw/{token}",
        "confirm_url": f"http://{st.HOST}/confirm/{token}",
        "expires_at": now + timedelta(days=7),
    }


def rendered_row(env: Any, catalogs: Any, n: int, now: datetime) -> dict[str, object]:
    ready = mail.render(env, catalogs, "confirm", locale(n), {**context(n, now), "tz": "UTC"})
    return {
        "template": "confirm",
        "to_address": address(n),
        "subject": ready.subject,
        "body_text": ready.text,
        "body_html": ready.html,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "at_most_once": False,
    }


# --- Measuring --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drained:
    started: float
    first_mail: float
    seconds: float | None  # None: the limit passed first
    cpu: float | None
    left: int
    not_erased: int


async def watch(
    url: str, sender: subprocess.Popen[bytes], handler: ArrivalsHandler, options: Any
) -> Drained:
    """From the sender's start: its first mail, then the outbox empty with every mail erased."""
    started = time.perf_counter()
    deadline = started + options.duration_limit
    # Reads only: on SQLite they never take the write lock the sender needs.
    engine = create_read_engine(url)
    try:
        while handler.first is None:
            if sender.poll() is not None or time.perf_counter() > deadline:
                raise st.BenchError(f"the sender sent nothing (exit code {sender.returncode})")
            await asyncio.sleep(POLL_INTERVAL)
        first = handler.first
        cpu_before = st.server_cpu_seconds(sender.pid)
        left, not_erased = await outbox_state(engine)
        while (left or not_erased) and time.perf_counter() < deadline:
            await asyncio.sleep(POLL_INTERVAL)
            left, not_erased = await outbox_state(engine)
        done = time.perf_counter()
        cpu_after = st.server_cpu_seconds(sender.pid)
        await asyncio.sleep(GRACE)
        left, not_erased = await outbox_state(engine)
    finally:
        await engine.dispose()
    seconds = None if left or not_erased else done - first
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Drained(started, first, seconds, cpu, left, not_erased)


async def outbox_state(engine: Any) -> tuple[int, int]:
    """Mails still pending, and mails finished whose address or content is still stored."""
    async with engine.connect() as connection:
        pending = await connection.scalar(
            select(func.count()).where(OutboxMail.status == OutboxStatus.PENDING)
        )
        kept = await connection.scalar(
            select(func.count()).where(
                OutboxMail.status != OutboxStatus.PENDING,
                OutboxMail.to_address.is_not(None) | OutboxMail.body_text.is_not(None),
            )
        )
    return int(pending or 0), int(kept or 0)


def stop(process: subprocess.Popen[bytes]) -> tuple[float, int | None]:
    """SIGTERM, as systemd does; how long until it exited, and with what status."""
    started = time.perf_counter()
    process.terminate()
    try:
        code: int | None = process.wait(timeout=st.STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    return time.perf_counter() - started, code


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def print_report(r: Report) -> None:
    drain = "not complete" if r.drain_seconds is None else f"{r.drain_seconds:.2f} s"
    cpu = "n/a" if r.sender_cpu_share is None else f"{r.sender_cpu_share:.0%}"
    per_mail = "n/a" if r.sender_cpu_ms_per_mail is None else f"{r.sender_cpu_ms_per_mail} ms"
    rows = [
        ("revision", r.revision),
        ("database", f"{r.database} {r.database_version}"),
        ("machine", r.machine),
        ("sender", f"{r.command}, batches of {r.batch_size}"),
        (
            "mails",
            f"{r.mails}, rendered {'when queued' if r.rendered_when_queued else 'by the sender'}",
        ),
        ("queued in", f"{r.queue_seconds:.2f} s"),
        ("first mail after", f"{r.startup_seconds:.2f} s (start of the sender process)"),
        ("outbox empty after", f"{drain} (from the first mail, all erased)"),
        ("rate", "n/a" if r.mails_per_second is None else f"{r.mails_per_second:.1f} mails/s"),
        ("sender CPU (1 core=100%)", cpu),
        ("sender CPU per mail", per_mail),
        ("received", f"{r.mails_received} ({r.duplicates} duplicates)"),
        ("left", f"{r.left_in_outbox} pending, {r.not_erased} finished but not erased"),
        ("stopped", f"{r.stop_seconds:.2f} s after SIGTERM, exit code {r.exit_code}"),
        ("sender log", f"{len(r.sender_log_problems)} warning/error lines"),
    ]
    width = max(len(label) for label, _ in rows)
    print("petition outbox drain benchmark")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    for line in r.sender_log_problems[:5]:
        print(f"    {line}")


if __name__ == "__main__":
    raise SystemExit(main())
