"""wrk for `side_by_side.py`: one run of C keep-alive connections, pinned to one CPU.

Two scripts. For a GET, wrk repeats one request and its own summary is the figure (exact
percentiles and error counts, as in `count_reads.py`). For a POST, every request is a line of a
bodies file, sent once and never again (a signature, a confirmation link): the script counts
the answers by status, and times the run itself, from the first request sent to the last answer
received, since wrk's duration counts the time its connections sat idle once the bodies were
all out. The script stops sending at the run's duration and waits for the answers in flight
(within wrk's own time, the duration plus the drain), so that the server did exactly what was
answered.
"""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

READ_TIMEOUT = 10  # seconds: an answer later than this is a timeout error (wrk --timeout)
DRAIN = READ_TIMEOUT + 2  # seconds after the duration for the answers in flight (bodies)
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")

STATIC_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d %d %d\\n",
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

# Each line of the file: path, Cookie, X-Forwarded-For, Accept-Language and the urlencoded body,
# separated by tabs; an empty field is a header left out. One wrk thread (-t1): wrk checks the
# script by asking the first thread's state for a request, which is then never sent.
BODIES_SCRIPT = """\
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function monotonic_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local queue = {}
local total = 0
local run_us = 0
sent = 0
answered = 0
first_us = 0
last_us = 0
statuses = {}

function init(args)
  run_us = tonumber(args[2]) * 1000000
  for line in io.lines(args[1]) do
    local path, cookie, forwarded, language, body =
      line:match("^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Sec-Fetch-Site"] = "same-origin",
    }
    if cookie ~= "" then headers["Cookie"] = cookie end
    if forwarded ~= "" then headers["X-Forwarded-For"] = forwarded end
    if language ~= "" then headers["Accept-Language"] = language end
    total = total + 1
    queue[total] = wrk.format("POST", path, headers, body)
  end
end

local function finished()
  return sent >= total or (first_us > 0 and monotonic_us() - first_us >= run_us)
end

local checked = false
function request()
  if not checked then
    checked = true  -- wrk's own check of the script, before any connection: nothing is sent
    return queue[1]
  end
  if finished() then
    return ""  -- nothing more to send: this connection stays quiet
  end
  sent = sent + 1
  if first_us == 0 then first_us = monotonic_us() end
  return queue[sent]
end

function response(status, headers, body)
  answered = answered + 1
  last_us = monotonic_us()
  statuses[status] = (statuses[status] or 0) + 1
  if answered >= sent and finished() then wrk.thread:stop() end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d %d %d %d %d\\n",
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
  for _, thread in ipairs(threads) do
    io.write(string.format("BODIES %d %d %d %d\\n", thread:get("sent"), thread:get("answered"),
      thread:get("first_us"), thread:get("last_us")))
    for status, n in pairs(thread:get("statuses")) do
      io.write(string.format("STATUS %d %d\\n", status, n))
    end
  end
end
"""


class WrkError(Exception):
    """wrk could not run, or printed no figures."""


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float  # GET: wrk's duration; POST: first request sent to last answer received
    requests: int  # answered, whatever the status
    ok: int  # answered with the expected status
    errors: dict[str, int]  # other statuses ("status 500") and wrk's errors ("timeout"), by kind
    p50_ms: float
    p99_ms: float
    max_ms: float
    sent: int  # POST: bodies sent (GET: = requests)
    bodies: int  # POST: bodies in the file (GET: 0)
    client_cpu_seconds: float
    first: float | None = None  # POST: CLOCK_MONOTONIC (time.monotonic) of the first request
    last: float | None = None  # POST: and of the last answer

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def requests_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def ran_out(self) -> bool:
        """Every body was sent: the run may have ended before its duration."""
        return self.bodies > 0 and self.sent >= self.bodies


def write_scripts(directory: Path) -> tuple[Path, Path]:
    static, bodies = directory / "static.lua", directory / "bodies.lua"
    static.write_text(STATIC_SCRIPT, encoding="utf-8")
    bodies.write_text(BODIES_SCRIPT, encoding="utf-8")
    return static, bodies


def get(
    url: str,
    *,
    script: Path,
    seconds: int,
    connections: int,
    cpu: int,
    headers: Sequence[tuple[str, str]] = (),
) -> Run:
    """GET `url` over and over; every answer is expected to be a success (checked before)."""
    extra: list[str] = []
    for name, value in headers:
        extra += ["-H", f"{name}: {value}"]
    lines, cpu_seconds = _wrk(url, script, seconds, connections, cpu, extra, [])
    duration, requests, *counts, p50, p99, top = _numbers(lines, "BENCH", 11)[0][1:]
    errors = {kind: n for kind, n in zip(ERROR_KINDS, counts[1:], strict=True) if n}
    return Run(
        seconds=duration / 1e6,
        requests=requests,
        ok=requests - errors.get("status", 0),
        errors=errors,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        max_ms=top / 1000,
        sent=requests,
        bodies=0,
        client_cpu_seconds=cpu_seconds,
    )


def post_bodies(
    base_url: str,
    bodies_file: Path,
    *,
    script: Path,
    seconds: int,
    connections: int,
    cpu: int,
    expect: int,
) -> Run:
    """Send each line of `bodies_file` once, for `seconds` at most; count answers by status."""
    bodies = sum(1 for _ in bodies_file.open(encoding="utf-8"))
    lines, cpu_seconds = _wrk(
        base_url, script, seconds + DRAIN, connections, cpu, [], [str(bodies_file), str(seconds)]
    )
    summary = _numbers(lines, "BENCH", 11)[0]
    counts, p50, p99, top = summary[4:9], summary[9], summary[10], summary[11]
    sent, answered, first_us, last_us = _numbers(lines, "BODIES", 4)[0][1:]
    statuses = {code: n for _, code, n in _numbers(lines, "STATUS", 2)}
    errors = {f"status {code}": n for code, n in statuses.items() if code != expect}
    # wrk's own errors, but its "status" (4xx and 5xx answers), already counted by code above.
    errors |= {
        kind: n for kind, n in zip(ERROR_KINDS, counts, strict=True) if n and kind != "status"
    }
    return Run(
        seconds=max(0, last_us - first_us) / 1e6,
        requests=answered,
        ok=statuses.get(expect, 0),
        errors=errors,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        max_ms=top / 1000,
        sent=sent,
        bodies=bodies,
        client_cpu_seconds=cpu_seconds,
        first=first_us / 1e6,
        last=last_us / 1e6,
    )


def _wrk(
    url: str,
    script: Path,
    seconds: int,
    connections: int,
    cpu: int,
    options: list[str],
    script_args: list[str],
) -> tuple[list[str], float]:
    # One wrk thread: the client's whole CPU is one core, its own.
    command = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += [f"--timeout={READ_TIMEOUT}s", "-s", str(script), *options, url]
    if script_args:
        command += ["--", *script_args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        result = subprocess.run(  # noqa: S603  # fixed command line, no shell
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WrkError(f"wrk did not run: {exc}") from exc
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise WrkError(f"wrk exited with {result.returncode}:\n{result.stderr}")
    cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result.stdout.splitlines(), cpu_seconds


def _numbers(lines: list[str], tag: str, count: int) -> list[list[int]]:
    """The lines starting with `tag`, as [0, n1, n2, …] (index 0 stands for the tag)."""
    rows = [[0, *map(int, line.split()[1:])] for line in lines if line.startswith(tag + " ")]
    if not rows or any(len(row) != count + 1 for row in rows):
        raise WrkError(f"no {tag} figures in wrk's output:\n" + "\n".join(lines))
    return rows
