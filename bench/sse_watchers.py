"""Live stream watchers: how many SSE watchers one server process holds, and how fast they learn.

For each step N of a ramp, starts a fresh `petition serve`, opens N watchers of the campaign's
event stream from client processes (raw asyncio connections), then confirms one real signature
through HTTP and times the new count's arrival at every watcher. Stops at the first step that
fails. See bench/README.md.

    .venv/bin/python bench/sse_watchers.py [--watchers 1000,2000,5000,10000,15000,20000]
        [--client-processes K] [--receive-timeout SECONDS] [--database-url URL]
        [--duration-limit SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import _live_server as live  # its directory is first on sys.path when this runs as a script
import sign_throughput as st

DEFAULT_STEPS = (1000, 2000, 5000, 10000, 15000, 20000)
EVENTS_PATH = f"/api/v1/campaigns/{st.SLUG}/events"
OPENING_PARALLEL = 200  # connections being opened at once per client process (listen backlog)
OPEN_TIMEOUT = 30.0  # per connection: until its first event
OPENING_LIMIT = 120.0  # per step: until every watcher has its first event
SETTLE = 1.0  # seconds of quiet before reading the server's memory
CONFIRM_ALLOWANCE = 10.0  # the confirmation POST's own time, on top of --receive-timeout
REPORT_SLACK = 5.0  # for the client processes to send their figures, after their deadline
STOP_TIMEOUT = 5.0  # for a client process to end, before it is killed
LOG_LINES_KEPT = 20  # out of open-files errors, asyncio logs thousands of lines a second


class StepFailed(Exception):
    """A step could not be measured to its end; the message says where it stopped."""


@dataclass(slots=True)
class Step:
    watchers: int
    opened: int = 0  # watchers that received their initial event
    open_failures: dict[str, int] = field(default_factory=dict)
    open_seconds: float | None = None  # first connection to the last initial event
    server_cpu_open_share: float | None = None  # server CPU s / open_seconds (1.0 = one core)
    rss_before_kib: int | None = None  # server VmRSS with no watcher (after one signing)
    rss_with_kib: int | None = None  # server VmRSS with the watchers open, before the change
    initial_counts: list[int] = field(default_factory=list)  # distinct counts seen on connecting
    confirm_ms: float | None = None  # the confirmation POST, sent to answered
    received: int = 0  # watchers that received the new count within --receive-timeout
    late: int = 0  # received it, but after --receive-timeout
    delay_ms: dict[str, float] | None = None  # from the POST's answer to arrival: p50 p99 max
    first_ms: float | None = None  # the first watcher's delay
    server_cpu_fanout_seconds: float | None = None  # from the POST sent to the last arrival
    client_cpu_seconds: float | None = None  # all client processes, whole step
    failure: str | None = None

    @property
    def held(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class Report:
    revision: str
    database: str
    database_version: str
    machine: str
    open_files_limit: int
    client_processes: int
    receive_timeout: float
    steps: list[Step]
    largest_held: int
    server_log_problem_lines: int  # WARNING, ERROR and traceback lines of all the steps' servers
    server_log_problems: list[str]  # the first LOG_LINES_KEPT of them


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    return st.conclude(
        lambda: run(options, deadline=time.monotonic() + options.duration_limit),
        print_report,
        options.json,
        stopped="server and clients stopped",
        ok=lambda r: all(step.held for step in r.steps),
        document=lambda r: asdict(r) | {"steps": [asdict(s) | {"held": s.held} for s in r.steps]},
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark SSE watchers of one petition serve.")
    parser.add_argument(
        "--watchers",
        default=",".join(map(str, DEFAULT_STEPS)),
        metavar="N,N,…",
        help="watchers per step, comma-separated; stops at the first step that fails",
    )
    parser.add_argument("--client-processes", type=st._positive_int, default=2, metavar="K")
    parser.add_argument(
        "--receive-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="after the confirmation, every watcher must have the new count within this long",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://… on loopback (ITS public SCHEMA IS WIPED at each step), or "
        "sqlite:///… of a file that does not exist yet (one step only); default: SQLite in a "
        "fresh temporary directory per step",
    )
    parser.add_argument("--duration-limit", type=float, default=600.0, metavar="SECONDS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    try:
        options.watchers = [int(n) for n in options.watchers.split(",") if n.strip()]
    except ValueError:
        parser.error("--watchers takes comma-separated whole numbers")
    if not options.watchers or min(options.watchers) < 1:
        parser.error("--watchers takes positive numbers")
    if options.receive_timeout <= 0 or options.duration_limit <= 0:
        parser.error("--receive-timeout and --duration-limit must be positive")
    return options


def run(options: argparse.Namespace, deadline: float) -> Report:
    fd_limit = live.raise_fd_limit()  # inherited by the server and the client processes
    largest = max(options.watchers)
    if largest + 100 > fd_limit:
        print(
            f"WARNING: {largest} watchers need as many open files in the server, whose limit "
            f"will be {fd_limit} (hard limit of this shell: `ulimit -Hn`)",
            file=sys.stderr,
        )
    steps: list[Step] = []
    problems: list[str] = []
    database = None
    for n in options.watchers:
        if time.monotonic() >= deadline:
            steps.append(Step(n, failure="not started: --duration-limit reached"))
            break
        # A fresh server per step: its memory before and with the watchers is this step's only.
        with live.live_server(options.database_url) as server:
            database = server.database
            step = asyncio.run(measure_step(server, n, options, deadline))
            problems += live.log_problems(server)
        steps.append(step)
        print(f"bench: {n} watchers: {'held' if step.held else step.failure}", file=sys.stderr)
        if not step.held:
            break
    assert database is not None  # at least one step ran: --watchers is never empty
    return Report(
        revision=st.source_revision(),
        database=database.kind,
        database_version=database.version,
        machine=f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}",
        open_files_limit=fd_limit,
        client_processes=options.client_processes,
        receive_timeout=options.receive_timeout,
        steps=steps,
        largest_held=max((s.watchers for s in steps if s.held), default=0),
        server_log_problem_lines=len(problems),
        server_log_problems=problems[:LOG_LINES_KEPT],
    )


# --- One step, seen from the bench ------------------------------------------------------------


async def measure_step(
    server: live.LiveServer, n: int, options: argparse.Namespace, deadline: float
) -> Step:
    step = Step(n)
    clients: list[tuple[BaseProcess, Connection]] = []
    try:
        async with live.client(server.base_url) as http:
            # Sign and open the confirmation page first: the mail and its background sender
            # are done before the watchers connect, and only the confirming POST remains.
            pending = await live.prepare_confirmation(http, server.mail_dir, index=0)
            await asyncio.sleep(SETTLE)
            step.rss_before_kib = live.rss_kib(server.pid)
            await open_watchers(server, n, options.client_processes, deadline, step, clients)
            await asyncio.sleep(SETTLE)
            step.rss_with_kib = live.rss_kib(server.pid)
            await change_and_time(server, pending, options.receive_timeout, deadline, step, clients)
    except StepFailed as exc:
        step.failure = str(exc)
    finally:
        step.client_cpu_seconds = stop_clients(clients)
    return step


async def open_watchers(
    server: live.LiveServer,
    n: int,
    processes: int,
    deadline: float,
    step: Step,
    clients: list[tuple[BaseProcess, Connection]],
) -> None:
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited loop
    shares = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    cpu_before = live.cpu_seconds(server.pid)
    started = time.monotonic()
    for share in shares:
        if share:
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=client_process, args=(child_end, server.port, share), daemon=True
            )
            process.start()
            child_end.close()
            clients.append((process, parent_end))
    failures: Counter[str] = Counter()
    initial: set[int] = set()
    limit = min(deadline, started + OPENING_LIMIT)
    for _process, connection in clients:
        message = await receive(connection, limit, "opening the watchers")
        step.opened += message["opened"]
        failures.update(message["failures"])
        initial.update(message["initial_counts"])
    # The last initial event arrived at the latest when the last client reported.
    step.open_seconds = round(time.monotonic() - started, 2)
    step.server_cpu_open_share = round(
        (live.cpu_seconds(server.pid) - cpu_before) / step.open_seconds, 2
    )
    step.open_failures = dict(failures)
    step.initial_counts = sorted(initial)
    if step.opened < n:
        raise StepFailed(f"only {step.opened} of {n} watchers opened ({dict(failures)})")
    if len(initial) != 1:
        raise StepFailed(f"watchers saw different counts on connecting: {sorted(initial)}")


async def change_and_time(
    server: live.LiveServer,
    pending: live.PendingConfirmation,
    receive_timeout: float,
    deadline: float,
    step: Step,
    clients: list[tuple[BaseProcess, Connection]],
) -> None:
    """Confirm one signature; collect when each watcher received the count it made."""
    (expected,) = (count + 1 for count in step.initial_counts)
    client_deadline = min(deadline, time.monotonic() + CONFIRM_ALLOWANCE + receive_timeout)
    for _process, connection in clients:
        connection.send(("watch", expected, client_deadline))
    cpu_before = live.cpu_seconds(server.pid)
    sent = time.monotonic()
    try:
        await live.confirm(pending)
    except st.BenchError as exc:
        raise StepFailed(str(exc)) from exc
    answered = time.monotonic()  # CLOCK_MONOTONIC: the same clock in the client processes
    step.confirm_ms = round((answered - sent) * 1000, 1)
    arrivals: list[float] = []
    for _process, connection in clients:
        message = await receive(connection, client_deadline + REPORT_SLACK, "timing the change")
        arrivals += message["arrivals"]
    step.server_cpu_fanout_seconds = round(live.cpu_seconds(server.pid) - cpu_before, 3)
    delays = sorted(max(0.0, arrival - answered) for arrival in arrivals)
    step.received = sum(1 for d in delays if d <= receive_timeout)
    step.late = len(delays) - step.received
    if delays:
        step.first_ms = round(delays[0] * 1000, 1)
        step.delay_ms = {
            name: round(st.percentile(delays, q) * 1000, 1)
            for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
        }
    if step.received < step.opened:
        raise StepFailed(
            f"{step.received} of {step.opened} watchers received the new count within "
            f"{receive_timeout:g} s ({step.late} later)"
        )


async def receive(connection: Connection, until: float, doing: str) -> dict[str, Any]:
    """The next message of a client process; polled, so that a timeout can interrupt it."""
    while True:
        if connection.poll():
            try:
                kind, payload = connection.recv()
            except EOFError:
                raise StepFailed(f"a client process ended while {doing}") from None
            if kind == "error":
                raise StepFailed(f"a client process failed while {doing}: {payload}")
            result: dict[str, Any] = payload
            return result
        if time.monotonic() >= until:
            raise StepFailed(f"time limit reached while {doing}")
        await asyncio.sleep(0.01)


def stop_clients(clients: list[tuple[BaseProcess, Connection]]) -> float | None:
    """Ask each client process to close its watchers and report its CPU time; end it if stuck."""
    total: float | None = 0.0
    for process, connection in clients:
        with contextlib.suppress(OSError):
            connection.send(("close", None, None))
        try:
            if connection.poll(STOP_TIMEOUT):
                _kind, payload = connection.recv()
                total = None if total is None else total + payload["cpu_seconds"]
            else:
                total = None
        except (EOFError, OSError, TypeError, KeyError):
            total = None
        process.join(STOP_TIMEOUT)
        if process.is_alive():  # by its own PID: SIGTERM, then SIGKILL
            process.terminate()
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
        connection.close()
    return None if total is None else round(total, 2)


# --- Client processes -------------------------------------------------------------------------


def client_process(connection: Connection, port: int, count: int) -> None:
    """Entry point of a client process: hold `count` watchers until told to close them."""
    live.raise_fd_limit()
    try:
        asyncio.run(hold_watchers(connection, port, count))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the bench reports it
        pass
    except Exception as exc:  # report it to the bench rather than die silently
        with contextlib.suppress(OSError):
            connection.send(("error", repr(exc)))


class Shared:
    """What a client process's watchers share: the count awaited and how many still wait."""

    def __init__(self) -> None:
        self.expected: int | None = None
        self.waiting = 0
        self.all_arrived = asyncio.Event()


class Watcher(asyncio.Protocol):
    """One EventSource-like connection: HTTP/1.1, chunked body, `data:` lines with a count."""

    def __init__(self, request: bytes, shared: Shared) -> None:
        self.request = request
        self.shared = shared
        self.first_event: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()  # the response head, until its blank line
        self.body_started = False
        self.raw = bytearray()  # chunked body not decoded yet
        self.chunk_left = 0  # bytes of the current chunk still to come
        self.skip = 0  # bytes of CRLF after a chunk still to skip
        self.events = bytearray()  # decoded stream not yet split into events
        self.initial: int | None = None
        self.arrived: float | None = None  # monotonic time the expected count arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            self._feed(data, now)
        except (ValueError, KeyError) as exc:  # a malformed answer ends this watcher
            self._fail(ConnectionError(f"bad answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("closed by the server"))

    def _fail(self, exc: Exception) -> None:
        if not self.first_event.done():
            self.first_event.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _feed(self, data: bytes, now: float) -> None:
        if not self.body_started:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = bytes(self.head[:end]).lower(), bytes(self.head[end + 4 :])
            if not head.startswith(b"http/1.1 200"):
                raise ValueError(head.split(b"\r\n", 1)[0].decode("latin-1"))
            if b"transfer-encoding: chunked" not in head:
                raise ValueError("stream not chunked")
            self.body_started = True
        self.raw += data
        self._dechunk()
        while (end := self.events.find(b"\n\n")) >= 0:
            block = bytes(self.events[:end])
            del self.events[: end + 2]
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    self._count(int(json.loads(line[5:])["count"]), now)

    def _dechunk(self) -> None:
        raw = self.raw
        while True:
            if self.chunk_left:
                piece = raw[: self.chunk_left]
                self.events += piece
                del raw[: len(piece)]
                self.chunk_left -= len(piece)
                if self.chunk_left:
                    return
                self.skip = 2
            if self.skip:
                skipped = min(self.skip, len(raw))
                del raw[:skipped]
                self.skip -= skipped
                if self.skip:
                    return
            line_end = raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(raw[:line_end]).split(b";")[0], 16)
            del raw[: line_end + 2]
            if size == 0:
                raise ValueError("the stream ended")
            self.chunk_left = size

    def _count(self, count: int, now: float) -> None:
        if self.initial is None:
            self.initial = count
            self.first_event.set_result(count)
            return
        expected = self.shared.expected
        if self.arrived is None and expected is not None and count >= expected:
            self.arrived = now
            self.shared.waiting -= 1
            if self.shared.waiting == 0:
                self.shared.all_arrived.set()


async def hold_watchers(connection: Connection, port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    request = (
        f"GET {EVENTS_PATH} HTTP/1.1\r\nHost: {st.HOST}:{port}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()
    shared = Shared()
    watchers: list[Watcher] = []
    failures: Counter[str] = Counter()
    gate = asyncio.Semaphore(OPENING_PARALLEL)

    async def open_one() -> None:
        async with gate:
            watcher = Watcher(request, shared)
            try:
                async with asyncio.timeout(OPEN_TIMEOUT):
                    await loop.create_connection(lambda: watcher, st.HOST, port)
                    await watcher.first_event
            except (OSError, TimeoutError) as exc:
                failures[type(exc).__name__] += 1
                if watcher.transport is not None:
                    watcher.transport.close()
                return
            watchers.append(watcher)

    try:
        await asyncio.gather(*(open_one() for _ in range(count)))
        initial = sorted({w.initial for w in watchers if w.initial is not None})
        report = {"opened": len(watchers), "failures": dict(failures), "initial_counts": initial}
        connection.send(("ready", report))
        kind, expected, until = await asyncio.to_thread(connection.recv)
        if kind == "watch":
            shared.expected, shared.waiting = expected, len(watchers)
            if watchers:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(until - time.monotonic()):
                        await shared.all_arrived.wait()
            arrivals = [w.arrived for w in watchers if w.arrived is not None]
            connection.send(("arrivals", {"arrivals": arrivals}))
            kind, _, _ = await asyncio.to_thread(connection.recv)
    except EOFError:  # the bench went away: close and end
        pass
    finally:
        for watcher in watchers:
            if watcher.transport is not None:
                watcher.transport.abort()
    with contextlib.suppress(OSError):
        connection.send(("closed", {"cpu_seconds": time.process_time()}))


# --- Figures ----------------------------------------------------------------------------------


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def print_report(r: Report) -> None:
    print("petition live stream (SSE) watchers benchmark")
    print(f"  revision    {r.revision}")
    print(f"  database    {r.database} {r.database_version}")
    print(f"  machine     {r.machine}")
    print(f"  clients     {r.client_processes} processes, open files limit {r.open_files_limit}")
    print(f"  timeout     every watcher within {r.receive_timeout:g} s of the confirmation")
    print(
        "\n       N  opened  open s  CPU  RSS MiB before  with  confirm ms  received"
        "  delay ms: first  p50  p99  max  fan-out CPU s  held"
    )
    for s in r.steps:
        delay = s.delay_ms or {}
        cpu = "-" if s.server_cpu_fanout_seconds is None else f"{s.server_cpu_fanout_seconds:.2f}"
        open_s = "-" if s.open_seconds is None else f"{s.open_seconds:.1f}"
        print(
            f"  {s.watchers:>6} {s.opened:>7} {open_s:>7} {_percent(s.server_cpu_open_share):>4}"
            f" {_mib(s.rss_before_kib):>15} {_mib(s.rss_with_kib):>5} {_ms(s.confirm_ms):>11}"
            f" {s.received:>9} {_ms(s.first_ms):>16} {_ms(delay.get('p50')):>4}"
            f" {_ms(delay.get('p99')):>4} {_ms(delay.get('max')):>4} {cpu:>14}"
            f"  {'yes' if s.held else 'NO'}"
        )
    for s in r.steps:
        if s.failure is not None:
            print(f"\n  {s.watchers} watchers: {s.failure}")
    print(f"\n  largest N held  {r.largest_held}")
    print(f"  server log      {r.server_log_problem_lines} warning/error lines")
    for line in r.server_log_problems[:5]:
        print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
