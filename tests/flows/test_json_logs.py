"""With PETITION_LOG_FORMAT=json, what `petition` writes on its standard error is one JSON object
per line — the HTTP server's lines, every worker's, the command's — for a log collector to read;
and still no secret link, no address, no name, no access log."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from petition.models import Campaign
from petition.settings import Settings
from tests.support.journey import link, press, sign, signer
from tests.support.process import petition_serve, site_env
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
FIELDS = {"time", "level", "logger", "message"}
ACCESS_LINE = re.compile(r"\b(GET|POST|HEAD) /")


def entries(text: str) -> list[dict[str, str]]:
    """Every line of `text` as the JSON object it must be, with the four fields at least."""
    found = []
    for line in text.splitlines():
        entry = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(entry, dict), line
        assert FIELDS <= set(entry) <= {*FIELDS, "exception", "stack"}, line
        assert datetime.fromisoformat(entry["time"]).utcoffset() == timedelta(0), line
        found.append(entry)
    return found


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
async def test_petition_serve_and_its_workers_log_json_lines_without_secrets(
    settings: Settings, smtp: SmtpSink, campaign: Campaign, server: str
) -> None:
    confirmed = signer("josephine.kerbrat@example.org", first_name="Joséphine", last_name="Kerbrat")
    refused = signer("ulysse.arnoux@example.net", first_name="Ulysse", last_name="Arnoux")
    smtp.refuse.add(refused["email"])  # its refusal is logged, by the worker that sent it
    env = site_env(settings, smtp.port, log_format="json", workers="2", server=server)
    async with petition_serve(env) as served:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as browser:
            for fields in (confirmed, refused):
                assert (await sign(browser, SLUG, fields)).status_code == 303
            [mail] = await smtp.wait_for(1)
            confirm = link(mail, "confirm")
            assert (await press(browser, confirm)).status_code == 303
            assert (await browser.get(f"{confirm}x")).status_code == 404
        await _until_logged(served.log_text, "refused for good")
        served.process.terminate()
        await asyncio.wait_for(served.process.wait(), timeout=20)
        text = served.log_text()

    logged = entries(text)
    loggers = {entry["logger"] for entry in logged}
    assert "petition.outbox" in loggers, text
    assert {"uvicorn.error"} & loggers or {"_granian"} & loggers, text
    [refusal] = [e for e in logged if "refused for good" in e["message"]]
    assert refusal["level"] == "WARNING" and "<recipient>" in refusal["message"]
    token = confirm.rsplit("/", 1)[-1]
    for secret in (token, *confirmed.values(), *refused.values()):
        if secret not in {"yes", "Médecin DIM", "CHU de Lyon"}:  # the form's shared fields
            assert secret not in text
    assert not any(ACCESS_LINE.search(entry["message"]) for entry in logged), text


def test_a_command_logs_json_lines(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    done = subprocess.run(  # our own command, with our arguments
        [sys.executable, "-m", "petition.cli", "db", "upgrade"],
        env={
            **os.environ,
            "PETITION_DATABASE_URL": f"sqlite:///{database}",
            "PETITION_VAR_DIR": str(tmp_path / "var"),
            "PETITION_LOG_FORMAT": "json",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "database is up to date\n"
    logged = entries(done.stderr)
    assert any(entry["logger"].startswith("alembic") for entry in logged), done.stderr
    assert {entry["level"] for entry in logged} == {"INFO"}


def test_an_unknown_log_format_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(  # our own command, with our arguments
        [sys.executable, "-m", "petition.cli", "campaign", "list"],
        env={**os.environ, "PETITION_VAR_DIR": str(tmp_path), "PETITION_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "PETITION_LOG_FORMAT must be one of ('text', 'json')" in done.stderr


async def _until_logged(text: Callable[[], str], words: str, within: float = 20.0) -> None:
    for _ in range(int(within / 0.1)):
        if words in text():
            return
        await asyncio.sleep(0.1)
