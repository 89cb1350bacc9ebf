"""Driving the system's Chromium with playwright-core (Node): what a browser test needs, and the
reason it is skipped when the machine has not got it (never a browser build of its own)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "ops" / "altcha" / "node_modules"
VENDOR = ROOT / "petition" / "static" / "vendor"


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


async def run(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run tests/support/SCRIPT with node; its last line of output, as JSON."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "support" / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PLAYWRIGHT_FROM": str(TOOLS / "x.js"),
            "CHROMIUM": chromium() or "",
            **(env or {}),
        },
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=240)
    except TimeoutError:
        process.kill()
        raise
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])
