"""The machine under `side_by_side.py`: servers pinned to a CPU and stopped by their PID, the
CPU time they use (all their processes), and how busy the rest of the machine is."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sign_throughput as st  # its directory is first on sys.path when a bench runs as a script

SERVER_CPU, CLIENT_CPU = 0, 1
STOP_TIMEOUT = 25.0  # after SIGTERM: granian gives its worker 15 s before killing it


@contextlib.contextmanager
def pinned_process(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    cpus: str = str(SERVER_CPU),
) -> Iterator[subprocess.Popen[bytes]]:
    """A server on `cpus` (its workers inherit them), stopped by PID on leaving: SIGTERM,
    then SIGKILL of it and of every process it started, if it has not ended in time."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  # fixed command line, no shell
            ["taskset", "-c", cpus, *command],  # noqa: S607  # taskset from PATH
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            stop_tree(process)


def stop_tree(process: subprocess.Popen[bytes]) -> None:
    children = descendants(process.pid)
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in children:  # normally gone with their parent; never left running
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                pending += children
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a server and of its worker processes (granian's run apart from its main)."""
    total = 0.0
    for member in (pid, *descendants(pid)):
        seconds = st.server_cpu_seconds(member)
        total += seconds or 0.0
    return total


class CpuSampler:
    """A server's CPU time, sampled every 50 ms while inside: a POST run's share is taken from
    its first request to its last answer, which wrk's own process outlives."""

    INTERVAL = 0.05

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._samples: list[tuple[float, float]] = []  # (time.monotonic(), CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        self._samples.append((time.monotonic(), tree_cpu_seconds(self._pid)))

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self._sample()

    def at(self, moment: float) -> float:
        """CPU seconds used by `moment`, between the two samples around it."""
        before = max((s for s in self._samples if s[0] <= moment), default=self._samples[0])
        after = min((s for s in self._samples if s[0] >= moment), default=self._samples[-1])
        if after[0] <= before[0]:
            return before[1]
        share = (moment - before[0]) / (after[0] - before[0])
        return before[1] + share * (after[1] - before[1])

    def between(self, start: float | None, end: float | None) -> float:
        if start is None or end is None or end <= start:
            return self._samples[-1][1] - self._samples[0][1]
        return self.at(end) - self.at(start)


def wait_until_quiet(limit: float) -> None:
    """Until no test run is seen and the CPUs are idle for 10 s in a row, `limit` s at most."""
    deadline = time.monotonic() + limit
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if other_pytest_processes() == 0 and idle_share(1.0) >= 0.9:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 10:
                return
        else:
            quiet_since = None
            time.sleep(1.0)
    if limit > 0:
        print(f"bench: not quiet within {limit:.0f} s: measuring anyway", file=sys.stderr)


def idle_share(seconds: float) -> float:
    """Share of the machine's CPU time spent idle over the next `seconds` (Linux /proc/stat)."""

    def totals() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    idle_before, all_before = totals()
    time.sleep(seconds)
    idle_after, all_after = totals()
    return (idle_after - idle_before) / max(1, all_after - all_before)


def other_pytest_processes() -> int:
    """Test runs on the machine meanwhile: their CPU is taken from the figures."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if b"pytest" in cmdline.read_bytes():
                count += 1
    return count
