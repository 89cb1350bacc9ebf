"""Driving the system's Chromium with playwright-core (Node): what a browser test needs, and the
reason it is skipped when the machine has not got it (never a browser build of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "ops" / "altcha" / "node_modules"
VENDOR = ROOT / "petition" / "static" / "vendor"
AXE = TOOLS / "axe-core" / "axe.min.js"
VNU = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
LIGHTHOUSE = TOOLS / "lighthouse" / "package.json"
# Set by .ci/run: there, a missing browser, Nu checker or Lighthouse is a failure, not a skip.
REQUIRED = os.environ.get("PETITION_TEST_REQUIRE_BROWSER") == "1"


def chromium() -> str | None:
    return next(
        (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
    )


def missing(*built: Path) -> str | None:
    """Why a browser test cannot run here, or None; `built` are the served files it needs."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (TOOLS / "playwright-core" / "package.json").exists():
        return "playwright-core is not installed (make browser-tools needs npm)"
    for path in built:
        if not path.exists():
            return f"{path.relative_to(ROOT)} is not built (make setup needs npm)"
    if chromium() is None:
        return "no Chromium (apt install chromium)"
    return None


def tool_missing(path: Path, what: str) -> str | None:
    """Why a node tool (axe-core, vnu-jar, lighthouse) cannot be used here, or None."""
    if not path.exists():
        return f"{what} is not installed (npm ci --prefix ops/altcha, as make setup does)"
    return None


def java_missing() -> str | None:
    if shutil.which("java") is None:
        return "java is not installed (apt install default-jre-headless)"
    return tool_missing(VNU, "vnu-jar")


def unavailable(problem: str) -> NoReturn:
    """Skip, saying why; or fail where PETITION_TEST_REQUIRE_BROWSER=1 (CI) wants it run."""
    if REQUIRED:
        pytest.fail(f"PETITION_TEST_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
    pytest.skip(f"browser test skipped: {problem}")


async def _start(
    script: str, args: tuple[str, ...], env: dict[str, str] | None, *, stdin: bool = False
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "support" / script),
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PLAYWRIGHT_FROM": str(TOOLS / "x.js"),
            "CHROMIUM": chromium() or "",
            **(env or {}),
        },
        start_new_session=True,  # its own process group: its browsers are stopped with it
    )


async def _stop(process: asyncio.subprocess.Process) -> None:
    """End the script and whatever it started and left (Chromium, Lighthouse's Chrome): its
    process group, which holds nothing else."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def run(
    script: str, *args: str, env: dict[str, str] | None = None, seconds: float = 240
) -> Any:
    """Run tests/support/SCRIPT with node, for `seconds` at most; its last line of output, as
    JSON."""
    process = await _start(script, args, env)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=seconds)
    finally:
        await _stop(process)
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


Answer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def converse(
    script: str, *args: str, answer: Answer, seconds: float = 240, env: dict[str, str] | None = None
) -> Any:
    """Run tests/support/SCRIPT with node, for `seconds` at most, answering its questions while
    it runs: each line it prints as `ASK {json}` gets one JSON line on its standard input, from
    `answer` (a mail that arrived, a code from the test's clock). Its last line, as JSON."""
    process = await _start(script, args, env, stdin=True)
    assert process.stdin and process.stdout and process.stderr
    stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
    last = ""

    async def talk() -> None:
        nonlocal last
        while line := (await stdout.readline()).decode():
            if line.startswith("ASK "):
                reply = await answer(json.loads(line[4:]))
                stdin.write((json.dumps(reply) + "\n").encode())
                await stdin.drain()
            elif line.strip():
                last = line.strip()
        await process.wait()

    errors = asyncio.create_task(stderr.read())
    try:
        await asyncio.wait_for(talk(), timeout=seconds)
        err = await errors
    finally:
        errors.cancel()
        await _stop(process)
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(last)
