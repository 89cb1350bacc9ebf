"""An operator runs `petition doctor` on a deployment and reads what is right and what is wrong."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.dns import DnsResponder
from tests.support.smtp import SmtpSink, free_port

DOMAIN = "example.org"
DKIM_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 350 + "IDAQAB"  # > 255 bytes
GOOD_RECORDS = {
    DOMAIN: {
        "TXT": ["v=spf1 ip4:127.0.0.1 -all", "site-verification=abc"],
        "MX": ["10 mx.example.org."],
    },
    f"_dmarc.{DOMAIN}": {"TXT": [f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}"]},
    f"mail._domainkey.{DOMAIN}": {"TXT": [f"v=DKIM1; k=rsa; p={DKIM_KEY}"]},
}
SMTP_PASSWORD = "smtp-pass-" + "s" * 20


class WatchingSink(SmtpSink):
    """The SMTP sink, also noting each EHLO and each MAIL FROM it is sent."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.greetings: list[str] = []
        self.senders: list[str] = []

    async def handle_EHLO(  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.greetings.append(hostname)
        return responses

    async def handle_MAIL(  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.senders.append(address)
        envelope.mail_from = address
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[WatchingSink]:
    watching = WatchingSink(port=free_port())
    watching.start()
    try:
        yield watching
    finally:
        watching.stop()


@pytest.fixture
def dns_server() -> Iterator[DnsResponder]:
    with DnsResponder(GOOD_RECORDS) as responder:
        yield responder


def doctor(env: Mapping[str, str], *args: str, cwd: Path) -> tuple[int, str]:
    """`petition doctor` in a process of its own, with these settings and no others."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PETITION_")}
    done = subprocess.run(  # noqa: S603  # our own interpreter and command, no shell
        [sys.executable, "-m", "petition.cli", "doctor", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stderr == "", done.stderr  # findings go to standard output, nothing else
    return done.returncode, done.stdout


def lines(output: str) -> dict[str, list[str]]:
    """Each check's lines, by check name: `ok    smtp: …` is filed under `smtp`."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        if not line.startswith(" "):
            check = line[6:].partition(":")[0]
            found.setdefault(check, []).append(line)
    return found


def good_env(tmp_path: Path, sqlite_template: Path, smtp_port: int) -> dict[str, str]:
    var = tmp_path / "var"
    var.mkdir()
    key = var / "secret.key"
    key.write_text(secrets.token_urlsafe(48), encoding="ascii")
    key.chmod(0o600)
    database = tmp_path / "petition.db"
    shutil.copyfile(sqlite_template, database)
    return {
        "PETITION_VAR_DIR": str(var),
        "PETITION_DATABASE_URL": f"sqlite:///{database}",
        "PETITION_BASE_URL": "https://petition.example.org",
        "PETITION_HOST": "127.0.0.1",
        "PETITION_SECURE_COOKIES": "true",
        "PETITION_TRUSTED_PROXIES": "127.0.0.1",
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(smtp_port),
        "PETITION_SMTP_TLS": "none",
        "PETITION_MAIL_FROM": f"Pétitions <petition@{DOMAIN}>",
    }


def bad_env(tmp_path: Path) -> dict[str, str]:
    var = tmp_path / "var"
    var.mkdir()
    key = var / "secret.key"
    key.write_text(secrets.token_urlsafe(48), encoding="ascii")
    key.chmod(0o644)
    database = tmp_path / "empty.db"
    database.write_bytes(b"")  # an SQLite database with no table: never migrated
    return {
        "PETITION_VAR_DIR": str(var),
        "PETITION_DATABASE_URL": f"sqlite:///{database}",
        "PETITION_BASE_URL": "http://petition.example.org",
        "PETITION_HOST": "127.0.0.1",
        "PETITION_SECURE_COOKIES": "false",
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(free_port()),  # nothing listens there
        "PETITION_SMTP_TLS": "none",
        "PETITION_SMTP_USERNAME": "petition",
        "PETITION_SMTP_PASSWORD": SMTP_PASSWORD,
        "PETITION_MAIL_FROM": f"petition@{DOMAIN}",
    }


def test_a_good_deployment_is_all_ok_and_no_mail_is_sent(
    tmp_path: Path, sqlite_template: Path, sink: WatchingSink, dns_server: DnsResponder
) -> None:
    env = good_env(tmp_path, sqlite_template, sink.port)
    code, out = doctor(
        env, "--nameserver", dns_server.address, "--dkim-selector", "mail", cwd=tmp_path
    )

    assert code == 0, out
    found = lines(out)
    assert set(found) >= {"base url", "cookies", "trusted proxies", "secret", "database"}
    assert set(found) >= {"live updates", "smtp", "sender", "spf", "dmarc", "dkim", "mx"}
    assert all(line.startswith("ok    ") for line in out.splitlines()), out
    assert "no login tried, no mail sent" in found["smtp"][0]
    assert "p=reject" in found["dmarc"][0]
    assert sink.greetings, "the doctor never said EHLO to the SMTP server"
    assert sink.senders == [] and sink.messages == []
    assert (tmp_path / "var" / "secret.key").read_text(encoding="ascii") not in out
    assert ("_dmarc.example.org", "TXT") in dns_server.queries


def test_a_bad_deployment_fails_and_names_each_problem(tmp_path: Path, sink: WatchingSink) -> None:
    env = bad_env(tmp_path)
    with DnsResponder({DOMAIN: {"MX": ["10 mx.example.org."]}}) as bare:
        code, out = doctor(env, "--nameserver", bare.address, cwd=tmp_path)

    assert code == 1, out
    found = lines(out)
    for check in ("base url", "cookies", "trusted proxies", "secret", "database", "smtp"):
        assert found[check][0].startswith("FAIL  "), (check, out)
    for check in ("spf", "dmarc"):
        assert found[check][0].startswith("FAIL  "), (check, out)
    assert "travel in clear" in found["base url"][0]
    assert "PETITION_TRUSTED_PROXIES is empty" in found["trusted proxies"][0]
    assert "mode 0644" in found["secret"][0]
    assert "not migrated" in found["database"][0]
    assert "no SPF record" in found["spf"][0]
    assert "no DMARC record" in found["dmarc"][0]
    assert found["dkim"][0].startswith("warn  ")
    assert "--dkim-selector" in found["dkim"][0]
    assert "      fix: chmod 600 " in out
    assert "      fix: run `petition db upgrade`" in out
    assert SMTP_PASSWORD not in out
    assert (tmp_path / "empty.db").read_bytes() == b""  # looked at, not migrated


def test_the_doctor_changes_nothing_where_nothing_exists_yet(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {"PETITION_VAR_DIR": str(var), "PETITION_MAIL_FROM": "petition@localhost"}
    code, out = doctor(env, "--offline", cwd=tmp_path)

    assert code == 1, out  # no database yet
    found = lines(out)
    assert "does not exist" in found["database"][0]
    assert "does not exist yet" in found["secret"][0]
    assert "mail is written to files, nobody receives it" in found["smtp"][0]
    assert found["base url"][0].startswith("warn  ")  # a trial on this machine
    assert not var.exists()  # no database, no secret, no mail folder made


def test_dns_that_cannot_answer_gives_warnings_not_failures(
    tmp_path: Path, sqlite_template: Path, sink: WatchingSink
) -> None:
    env = good_env(tmp_path, sqlite_template, sink.port)
    with DnsResponder(GOOD_RECORDS, failing=True) as broken:
        code, out = doctor(
            env, "--nameserver", broken.address, "--dkim-selector", "mail", cwd=tmp_path
        )

    assert code == 0, out
    found = lines(out)
    for check in ("spf", "dmarc", "dkim", "mx"):
        assert found[check][0].startswith("warn  "), out
        assert "could not ask DNS" in found[check][0]


def test_offline_skips_smtp_and_dns(
    tmp_path: Path, sqlite_template: Path, sink: WatchingSink
) -> None:
    env = good_env(tmp_path, sqlite_template, sink.port)
    code, out = doctor(env, "--offline", cwd=tmp_path)

    assert code == 0, out
    found = lines(out)
    assert found["smtp"] == ["warn  smtp: not checked (--offline)"]
    assert "not checked (--offline)" in found["dns"][0]
    assert sink.greetings == []


def test_json_output_parses_and_carries_every_finding(tmp_path: Path) -> None:
    env = bad_env(tmp_path)
    with DnsResponder({}) as empty:
        code, out = doctor(env, "--json", "--nameserver", empty.address, cwd=tmp_path)

    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    by_check = {f["check"]: f for f in report["findings"]}
    assert by_check["secret"]["status"] == "fail"
    assert by_check["secret"]["hint"].startswith("chmod 600")
    assert by_check["mx"]["status"] == "fail"  # the domain does not exist in this DNS
    assert {f["status"] for f in report["findings"]} <= {"ok", "warn", "fail"}
    assert SMTP_PASSWORD not in out


def test_several_workers_need_a_shared_live_backend(
    tmp_path: Path, sqlite_template: Path, sink: WatchingSink
) -> None:
    env = {**good_env(tmp_path, sqlite_template, sink.port), "PETITION_WORKERS": "2"}
    code, out = doctor(env, "--offline", cwd=tmp_path)

    assert code == 1
    assert lines(out)["live updates"][0].startswith("FAIL  live updates: the memory backend")


def test_redis_is_reached_or_its_absence_named(
    tmp_path: Path, sqlite_template: Path, sink: WatchingSink, redis_url: str
) -> None:
    env = {
        **good_env(tmp_path, sqlite_template, sink.port),
        "PETITION_WORKERS": "2",
        "PETITION_LIVE_BACKEND": "redis",
        "PETITION_REDIS_URL": redis_url,
    }
    code, out = doctor(env, "--offline", cwd=tmp_path)
    assert code == 0, out
    assert lines(out)["redis"][0].startswith("ok    redis: ")

    closed = {
        **env,
        "PETITION_REDIS_URL": f"redis://:pw-{SMTP_PASSWORD}@127.0.0.1:{free_port()}/11",
    }
    code, out = doctor(closed, "--offline", cwd=tmp_path)
    assert code == 1
    assert lines(out)["redis"][0].startswith("FAIL  redis: ")
    assert SMTP_PASSWORD not in out


def test_postgresql_unreachable_fails_without_showing_its_password(tmp_path: Path) -> None:
    url = f"postgresql://postgres:{SMTP_PASSWORD}@127.0.0.1:{free_port()}/mine"
    env = {"PETITION_VAR_DIR": str(tmp_path / "var"), "PETITION_DATABASE_URL": url}
    code, out = doctor(env, "--offline", cwd=tmp_path)

    assert code == 1
    assert lines(out)["database"][0].startswith("FAIL  database: ")
    assert "cannot be reached" in out
    assert SMTP_PASSWORD not in out


def test_postgresql_migrated_database_is_ok(tmp_path: Path, postgres_migrated: str) -> None:
    env = {"PETITION_VAR_DIR": str(tmp_path / "var"), "PETITION_DATABASE_URL": postgres_migrated}
    code, out = doctor(env, "--offline", cwd=tmp_path)

    assert code == 0, out
    assert lines(out)["database"][0].startswith("ok    database: "), out
    assert "migrations current" in out
    assert "live updates: postgresql backend" in out


def test_a_malformed_nameserver_is_refused_with_a_reason(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "petition.cli", "doctor", "--nameserver", "127.0.0.1:dns"],
        env={k: v for k, v in os.environ.items() if not k.startswith("PETITION_")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not a port: 'dns'" in done.stderr
