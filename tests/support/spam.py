"""SpamAssassin, as a receiving server runs it (local rules only: no network here)."""

from __future__ import annotations

import asyncio
import re
import shutil

SPAMASSASSIN = shutil.which("spamassassin")
# Far below the 5.0 at which SpamAssassin calls a mail spam: ours must not even come close.
MOST = 1.0
_SCORE = re.compile(rb"^X-Spam-Status: \w+, score=(-?[\d.]+)", re.MULTILINE)


async def score(message: bytes) -> tuple[float, str]:
    """The score SpamAssassin gives a mail as received, and its details."""
    assert SPAMASSASSIN is not None
    process = await asyncio.create_subprocess_exec(
        SPAMASSASSIN, "--local", "--test-mode",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    report, _ = await asyncio.wait_for(process.communicate(message), timeout=120)
    match = _SCORE.search(report)
    assert match, report[-2000:]
    details = report.partition(b"Content analysis details:")[2].decode(errors="replace")
    return float(match.group(1)), details
