"""Count reads: requests per second of one `petition serve` process on its count endpoints.

Starts a real server on a free loopback port and, beside it, the framework's ceiling (a minimal
Litestar app, bench/ceiling_app.py, served by uvicorn with the same options). Then, target by
target, a load generator keeps C keep-alive connections busy for a warm-up, then for a timed
run: wrk when it is installed, else a Python asyncio client in a separate process. See
bench/README.md.

    .venv/bin/python bench/count_reads.py [--connections C] [--duration SECONDS]
        [--warmup SECONDS] [--client auto|wrk|python] [--signatures N]
        [--database-url URL] [--duration-limit SECONDS] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import importlib.util
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import _live_server as live  # its directory is first on sys.path when this runs as a script
import ceiling_app
import httpx
import sign_throughput as st

BENCH_DIR = Path(__file__).resolve().parent
API = f"/api/v1/campaigns/{st.SLUG}"
READ_TIMEOUT = 10.0  # a request unanswered this long counts as an error (wrk: --timeout)
COUNT_WAIT = 10.0  # for the confirmed signatures to show in the snapshot (once a second)
# wrk's own summary is rounded; this prints exact percentiles and the error counts, one line.
WRK_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d %d\\n",
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
  io.write(string.format("BENCHMAX %d\\n", latency.max))
end
"""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    server: str  # "ceiling" or "petition"
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    status: int = 200  # what every answer must be


@dataclass(frozen=True, slots=True)
class Load:
    """What a load generator measured in one timed run."""

    seconds: float
    requests: int  # answered, whatever their status
    errors: dict[str, int]  # by kind: "status", "connect", "read", "timeout"…
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_seconds: float


@dataclass(frozen=True, slots=True)
class Result:
    target: str
    path: str
    status: int
    response_bytes: int  # body of one answer
    requests_per_second: float
    of_ceiling: float | None  # requests/s divided by the ceiling's
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    error_kinds: dict[str, int]
    server_cpu_share: float  # server CPU s / run s (1.0 = one core busy)
    server_cpu_us_per_request: float  # the server's cost of one answer, less sensitive to load
    client_cpu_share: float


@dataclass(frozen=True, slots=True)
class Report:
    revision: str
    database: str
    database_version: str
    machine: str
    uvicorn_http: str  # the HTTP parser uvicorn picks for both servers
    uvicorn_loop: str
    client: str  # "wrk 4.1.0, 1 thread" or "python asyncio"
    connections: int
    warmup_seconds: int
    duration_seconds: int
    signatures: int
    results: list[Result]
    server_log_problems: list[str]


def targets() -> list[Target]:
    return [
        Target("ceiling", "ceiling", ceiling_app.PATH),
        Target("campaign API", "petition", API),
        Target("campaign API 304", "petition", API, (("If-None-Match", ""),), 304),
        Target("campaigns list API", "petition", "/api/v1/campaigns"),
        Target("badge.svg", "petition", f"/c/{st.SLUG}/badge.svg"),
        # The page a visitor opens: the form, its token and stamp, the count, the text.
        Target("campaign page", "petition", st.CAMPAIGN_PATH),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    return st.conclude(
        lambda: run(options, deadline=time.monotonic() + options.duration_limit),
        print_report,
        options.json,
        stopped="servers stopped",
        ok=lambda r: all(result.errors == 0 for result in r.results),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark count reads of one petition serve.")
    parser.add_argument("--connections", type=st._positive_int, default=64, metavar="C")
    parser.add_argument("--duration", type=st._positive_int, default=10, metavar="SECONDS")
    parser.add_argument("--warmup", type=st._positive_int, default=2, metavar="SECONDS")
    parser.add_argument("--threads", type=st._positive_int, default=1, help="wrk threads")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator; auto: wrk if installed, else python",
    )
    parser.add_argument(
        "--signatures",
        type=int,
        default=5,
        metavar="N",
        help="signatures to sign and confirm through HTTP first, so that counts and breakdowns "
        "are not empty",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://… on loopback (ITS public SCHEMA IS WIPED), or sqlite:///… of a file "
        "that does not exist yet; default: SQLite in a fresh temporary directory",
    )
    parser.add_argument("--duration-limit", type=float, default=300.0, metavar="SECONDS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    options = parser.parse_args(argv)
    if options.signatures < 0 or options.duration_limit <= 0:
        parser.error("--signatures must be 0 or more, --duration-limit positive")
    if options.client == "auto":
        options.client = "wrk" if shutil.which("wrk") else "python"
    elif options.client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    return options


def run(options: argparse.Namespace, deadline: float) -> Report:
    live.raise_fd_limit()
    all_targets = targets()
    needed = len(all_targets) * (options.warmup + options.duration + 2) + 30
    if time.monotonic() + needed > deadline:
        raise st.BenchError(f"--duration-limit too short: the runs alone take about {needed} s")
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petition-bench-")))
        server = stack.enter_context(live.live_server(options.database_url))
        ceiling_pid, ceiling_url = stack.enter_context(ceiling_server(workdir))
        asyncio.run(seed(server, options.signatures))
        etag = check_answers(server.base_url, ceiling_url, all_targets)
        script = workdir / "bench.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        results: list[Result] = []
        for target in all_targets:
            if time.monotonic() >= deadline:
                raise st.BenchError(f"--duration-limit reached before {target.name}")
            if target.server == "ceiling":
                base_url, pid = ceiling_url, ceiling_pid
            else:
                base_url, pid = server.base_url, server.pid
            headers = [(name, value or etag) for name, value in target.headers]
            result = measure(options, target, base_url, headers, pid, script)
            if results:  # the first is the ceiling
                ceiling = results[0].requests_per_second
                result = _with_ceiling(result, round(result.requests_per_second / ceiling, 3))
            results.append(result)
            print(f"bench: {target.name}: {result.requests_per_second:.0f}/s", file=sys.stderr)
        return Report(
            revision=st.source_revision(),
            database=server.database.kind,
            database_version=server.database.version,
            machine=f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.platform()}",
            uvicorn_http="httptools" if importlib.util.find_spec("httptools") else "h11",
            uvicorn_loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
            client=client_name(options),
            connections=options.connections,
            warmup_seconds=options.warmup,
            duration_seconds=options.duration,
            signatures=options.signatures,
            results=results,
            server_log_problems=live.log_problems(server),
        )


def _with_ceiling(result: Result, of_ceiling: float) -> Result:
    return Result(**(asdict(result) | {"of_ceiling": of_ceiling}))


@contextlib.contextmanager
def ceiling_server(workdir: Path) -> Iterator[tuple[int, str]]:
    """The minimal app under uvicorn, stopped by its PID on leaving (SIGTERM, then SIGKILL)."""
    port = st.free_port()
    log_path = workdir / "ceiling.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PETITION_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  # fixed command line, no shell
            [sys.executable, str(BENCH_DIR / "ceiling_app.py"), st.HOST, str(port)],
            env=env,
            cwd=BENCH_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base_url = f"http://{st.HOST}:{port}"
            wait_until_answers(process, base_url + ceiling_app.PATH, log_path)
            yield process.pid, base_url
        finally:
            st.stop_process(process)


def wait_until_answers(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + st.STARTUP_TIMEOUT
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = log_path.read_text(encoding="utf-8", errors="replace")
                raise st.BenchError(f"the ceiling server exited with {process.returncode}:\n{log}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.1)
    raise st.BenchError(f"the ceiling server did not answer within {st.STARTUP_TIMEOUT:.0f} s")


async def seed(server: live.LiveServer, signatures: int) -> None:
    """Sign and confirm through HTTP, then wait until the count shows them all."""

    async def one(index: int) -> None:
        async with live.client(server.base_url) as http:
            await live.confirm(await live.prepare_confirmation(http, server.mail_dir, index))

    await asyncio.gather(*(one(i) for i in range(signatures)))
    async with live.client(server.base_url) as http:
        try:
            async with asyncio.timeout(COUNT_WAIT):
                while True:  # the snapshot is read again at most once a second
                    response = await http.get(API)
                    if response.json()["campaign"]["count"] == signatures:
                        return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise st.BenchError(f"the count did not reach {signatures} in {COUNT_WAIT} s") from None


def check_answers(base_url: str, ceiling_url: str, all_targets: list[Target]) -> str:
    """The campaign's ETag; and every target answers as expected before it is loaded."""
    with httpx.Client(timeout=st.REQUEST_TIMEOUT, trust_env=False) as client:
        etag: str | None = client.get(base_url + API).headers.get("etag")
        if not etag:
            raise st.BenchError(f"GET {API} has no ETag")
        for target in all_targets:
            url = (ceiling_url if target.server == "ceiling" else base_url) + target.path
            headers = {name: value or etag for name, value in target.headers}
            status = client.get(url, headers=headers).status_code
            if status != target.status:
                raise st.BenchError(f"GET {target.path} answered {status}, not {target.status}")
    return etag


def measure(
    options: argparse.Namespace,
    target: Target,
    base_url: str,
    headers: list[tuple[str, str]],
    pid: int,
    script: Path,
) -> Result:
    url = base_url + target.path
    with httpx.Client(timeout=st.REQUEST_TIMEOUT, trust_env=False) as client:
        size = len(client.get(url, headers=dict(headers)).content)
    generate(options, url, headers, target.status, options.warmup, script)  # figures dropped
    cpu_before = live.cpu_seconds(pid)
    load = generate(options, url, headers, target.status, options.duration, script)
    server_cpu = live.cpu_seconds(pid) - cpu_before
    errors = sum(load.errors.values())
    return Result(
        target=target.name,
        path=target.path + "".join(f" ({name})" for name, _ in headers),
        status=target.status,
        response_bytes=size,
        requests_per_second=round((load.requests - errors) / load.seconds, 1),
        of_ceiling=None,
        p50_ms=load.p50_ms,
        p99_ms=load.p99_ms,
        max_ms=load.max_ms,
        requests=load.requests,
        errors=errors,
        error_kinds=load.errors,
        server_cpu_share=round(server_cpu / load.seconds, 2),
        server_cpu_us_per_request=round(server_cpu / max(1, load.requests) * 1e6, 1),
        client_cpu_share=round(load.client_cpu_seconds / load.seconds, 2),
    )


def generate(
    options: argparse.Namespace,
    url: str,
    headers: list[tuple[str, str]],
    status: int,
    seconds: int,
    script: Path,
) -> Load:
    if options.client == "wrk":
        return run_wrk(url, headers, options.connections, options.threads, seconds, script)
    context = multiprocessing.get_context("spawn")  # the client gets a core of its own to use
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        future = pool.submit(python_load, url, headers, status, options.connections, seconds)
        try:
            return future.result(timeout=seconds + READ_TIMEOUT + 30)
        except concurrent.futures.TimeoutError:
            raise st.BenchError(f"the Python client did not finish its {seconds} s run") from None


def client_name(options: argparse.Namespace) -> str:
    if options.client == "python":
        return "python asyncio (one process)"
    version = subprocess.run(
        ["wrk", "--version"],  # noqa: S607  # wrk from PATH, fixed arguments, no shell
        capture_output=True,
        text=True,
        timeout=st.CLI_TIMEOUT,
        check=False,
    )
    words = (version.stdout + version.stderr).split()
    return f"wrk {words[1] if len(words) > 1 else '?'}, {options.threads} thread(s)"


# --- wrk --------------------------------------------------------------------------------------


def run_wrk(
    url: str,
    headers: list[tuple[str, str]],
    connections: int,
    threads: int,
    seconds: int,
    script: Path,
) -> Load:
    # wrk counts 4xx and 5xx as "status" errors; a 200 where a 304 was expected is not one, but
    # check_answers saw the right status just before, and nothing changes the count meanwhile.
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    command += [f"--timeout={READ_TIMEOUT:.0f}s", "-s", str(script)]
    for name, value in headers:
        command += ["-H", f"{name}: {value}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(  # noqa: S603  # fixed command line, no shell
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise st.BenchError(f"wrk exited with {result.returncode}:\n{result.stderr}")
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line}
    if "BENCH" not in lines or "BENCHMAX" not in lines:
        raise st.BenchError(f"no figures in wrk's output:\n{result.stdout}")
    duration, requests, _bytes, *error_counts, p50, p99 = map(int, lines["BENCH"])
    kinds = ("connect", "read", "write", "status", "timeout")
    return Load(
        seconds=duration / 1e6,
        requests=requests,
        errors={kind: n for kind, n in zip(kinds, error_counts, strict=True) if n},
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        max_ms=int(lines["BENCHMAX"][0]) / 1000,
        client_cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    )


# --- Python client (when wrk is missing) ------------------------------------------------------


def python_load(
    url: str, headers: list[tuple[str, str]], status: int, connections: int, seconds: int
) -> Load:
    """Runs in its own process: C keep-alive connections, each sending a request at a time."""
    return asyncio.run(_python_load(url, headers, status, connections, seconds))


async def _python_load(
    url: str, headers: list[tuple[str, str]], status: int, connections: int, seconds: int
) -> Load:
    without_scheme = url.removeprefix("http://")
    authority, _, path = without_scheme.partition("/")
    host, _, port = authority.partition(":")
    lines = [f"GET /{path} HTTP/1.1", f"Host: {authority}"] + [f"{n}: {v}" for n, v in headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    cpu_before = time.process_time()
    started = time.monotonic()
    stop = started + seconds

    async def connection_loop() -> None:
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                errors["connect"] += 1
                await asyncio.sleep(0.1)
                continue
            try:
                while time.monotonic() < stop:
                    sent = time.monotonic()
                    async with asyncio.timeout(READ_TIMEOUT):
                        writer.write(request)
                        head = await reader.readuntil(b"\r\n\r\n")
                        code, length = _parse_head(head)
                        await reader.readexactly(length)
                    latencies.append(time.monotonic() - sent)
                    if code != status:
                        errors["status"] += 1
            except TimeoutError:
                errors["timeout"] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors["read"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(connection_loop() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return Load(
        seconds=elapsed,
        requests=len(latencies),
        errors=dict(errors),
        p50_ms=round(st.percentile(latencies, 0.5) * 1000, 2),
        p99_ms=round(st.percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(st.percentile(latencies, 1.0) * 1000, 2),
        client_cpu_seconds=time.process_time() - cpu_before,
    )


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (the endpoints never send chunks)."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "transfer-encoding":
            raise ValueError("chunked answer")
    return int(status_line.split()[1]), length


# --- Figures ----------------------------------------------------------------------------------


def print_report(r: Report) -> None:
    print("petition count reads benchmark")
    print(f"  revision    {r.revision}")
    print(f"  database    {r.database} {r.database_version}, {r.signatures} signatures")
    print(f"  machine     {r.machine}")
    print(f"  uvicorn     {r.uvicorn_http}, {r.uvicorn_loop} loop, one worker (both servers)")
    print(f"  client      {r.client}, {r.connections} keep-alive connections")
    print(f"  runs        {r.warmup_seconds} s warm-up, then {r.duration_seconds} s measured")
    print(
        "\n  target               status   bytes  requests/s  of ceiling  p50 ms  p99 ms"
        "  max ms  errors  server CPU  µs/request  client CPU"
    )
    for x in r.results:
        share = "-" if x.of_ceiling is None else f"{x.of_ceiling:.0%}"
        print(
            f"  {x.target:<20} {x.status:>6} {x.response_bytes:>7} {x.requests_per_second:>11.0f}"
            f" {share:>11} {x.p50_ms:>7.1f} {x.p99_ms:>7.1f} {x.max_ms:>7.1f} {x.errors:>7}"
            f" {x.server_cpu_share:>11.0%} {x.server_cpu_us_per_request:>11.0f}"
            f" {x.client_cpu_share:>11.0%}"
        )
    for x in r.results:
        if x.error_kinds:
            print(f"  {x.target}: errors {x.error_kinds}")
    print(f"\n  server log  {len(r.server_log_problems)} warning/error lines")
    for line in r.server_log_problems[:5]:
        print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
