"""The shipped reverse-proxy files (ops/nginx.conf, ops/Caddyfile), loaded by the real nginx and
Caddy in front of a real `petition serve`, over HTTPS: what visitors and the operator get.

nginx answers counts from its cache and keeps them while petition is down; Caddy's standard
build has no cache, and says so by passing every request on. Both pass the live count event by
event, tell petition the visitor's own address (whatever the visitor claims), keep no access log,
compress no page, and drop granian's Server header. The systemd units pass `systemd-analyze`.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from petition.settings import Settings
from tests.support import proxies
from tests.support.journey import csrf_of, link, press, sign, signer
from tests.support.process import Served, petition_serve
from tests.support.proxies import Certificate, Ports, Proxy
from tests.support.smtp import SmtpSink

SLUG = "mission-sante"
COUNT = f"/api/v1/campaigns/{SLUG}"
EVENTS = f"/api/v1/campaigns/{SLUG}/events"
BADGE = f"/c/{SLUG}/badge.svg"
PAGE = f"/c/{SLUG}"
LOGIN = "/organiser/login"
_STYLESHEET = re.compile(r'href="(/static/site\.[0-9a-f]{12}\.css)"')
pytestmark = [
    pytest.mark.usefixtures("campaign"),
    # The proxies are the subject here, not the database: the embedded one is enough.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@dataclass(frozen=True)
class Site:
    proxy: Proxy
    served: Served
    cert: Certificate

    def client(self, local_address: str | None = None) -> httpx.AsyncClient:
        """A visitor over HTTPS, trusting the test's certificate; from `local_address` if given
        (any 127.x.y.z reaches the proxy on 127.0.0.1: another visitor, as the proxy sees it)."""
        transport = httpx.AsyncHTTPTransport(
            verify=self.cert.trusted(), local_address=local_address
        )
        return httpx.AsyncClient(base_url=self.proxy.base_url, transport=transport, timeout=15)

    async def stop_petition(self) -> None:
        self.served.process.terminate()
        await asyncio.wait_for(self.served.process.wait(), timeout=20)


@asynccontextmanager
async def site(
    kind: str, settings: Settings, smtp: SmtpSink, directory: Path, **env: str
) -> AsyncIterator[Site]:
    """petition serve, and `kind` (nginx or caddy) in front of it with the shipped file."""
    start = {"nginx": proxies.nginx, "caddy": proxies.caddy}[kind]
    proxies.program(kind)
    cert = proxies.certificate(directory)
    ports = Ports.free()
    async with petition_serve(_petition_env(settings, smtp, ports) | env) as served:
        upstream = served.base_url.removeprefix("http://")
        async with start(directory / kind, upstream, cert, ports) as proxy:
            yield Site(proxy, served, cert)


def _petition_env(settings: Settings, smtp: SmtpSink, ports: Ports) -> dict[str, str]:
    """As an operator sets it behind a proxy on the same host (ops/env.example)."""
    return {
        "PETITION_DATABASE_URL": settings.resolved_database_url,
        "PETITION_SECRET_KEY": settings.secret_key,
        "PETITION_VAR_DIR": str(settings.var_dir),
        "PETITION_BASE_URL": ports.base_url,
        "PETITION_SECURE_COOKIES": "true",
        "PETITION_TRUSTED_PROXIES": "127.0.0.1",
        "PETITION_SMTP_HOST": "127.0.0.1",
        "PETITION_SMTP_PORT": str(smtp.port),
        "PETITION_SMTP_TLS": "none",
        "PETITION_OUTBOX_POLL_INTERVAL": "0.2",
        "PETITION_FORM_MIN_SECONDS": "0",  # the test's signer fills the form at once
    }


async def test_nginx_accepts_the_shipped_site(tmp_path: Path) -> None:
    cert = proxies.certificate(tmp_path)
    said = proxies.nginx_test(tmp_path / "nginx", "127.0.0.1:8000", cert, Ports.free())
    assert "test is successful" in said


async def test_nginx_answers_counts_from_its_cache_and_keeps_them_while_petition_is_down(
    settings: Settings, smtp: SmtpSink, tmp_path: Path
) -> None:
    # granian sends `Server: granian`, which nobody can turn off: nginx must not pass it on.
    async with site("nginx", settings, smtp, tmp_path, PETITION_SERVER="granian") as running:
        async with running.client() as visitor:
            first = await visitor.get(COUNT)
            second = await visitor.get(COUNT)
            assert first.status_code == second.status_code == 200
            assert first.json()["campaign"]["count"] == 0
            assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
            assert second.content == first.content
            assert "stale-if-error=86400" in second.headers["cache-control"]
            assert second.headers["content-encoding"] == "gzip"  # JSON carries no secret
            assert second.headers["server"] == "nginx"  # no version, no granian

            badges = [await visitor.get(BADGE) for _ in range(2)]
            assert [b.headers["x-cache"] for b in badges] == ["MISS", "HIT"]
            assert badges[1].headers["content-type"].startswith("image/svg+xml")

            # The page carries a CSRF token and sets its cookie: never kept, never compressed.
            page = await visitor.get(PAGE)
            assert page.status_code == 200 and "x-cache" not in page.headers
            assert "content-encoding" not in page.headers
            assert "set-cookie" in page.headers

            # A fingerprinted file keeps petition's `immutable` (no `expires` of nginx's own).
            stylesheet = _STYLESHEET.search(page.text)
            assert stylesheet, "the page links no fingerprinted stylesheet"
            files = [await visitor.get(stylesheet.group(1)) for _ in range(2)]
            assert files[1].headers["cache-control"] == "public, max-age=31536000, immutable"
            assert "expires" not in files[1].headers
            assert [f.headers["x-cache"] for f in files] == ["MISS", "HIT"]

            # A body over petition's limit is refused by nginx itself (no petition header on it).
            big = await visitor.post(PAGE, content=b"x" * 100_000)
            assert big.status_code == 413
            assert "content-security-policy" not in big.headers
            assert (await visitor.get("/metrics")).status_code == 404  # read on each host

        async with httpx.AsyncClient(timeout=15) as plain:
            redirected = await plain.get(f"{running.proxy.http_url}{PAGE}?lang=fr")
        assert redirected.status_code == 301
        assert redirected.headers["location"] == f"https://127.0.0.1{PAGE}?lang=fr"

        await running.stop_petition()
        async with running.client() as visitor:
            # The count stays fresh for max-age (5 s), then it is served stale: the same count.
            stale = await _until(visitor, COUNT, lambda r: r.headers.get("x-cache") != "HIT")
            assert stale.status_code == 200, stale.text
            assert stale.headers["x-cache"] in {"STALE", "UPDATING"}
            assert stale.content == first.content
            assert (await visitor.get(PAGE)).status_code == 502  # pages: never from a cache

        access_log = running.proxy.directory / "access.log"
        assert not access_log.exists() or access_log.stat().st_size == 0
        assert SLUG not in running.proxy.log_text()


async def test_caddy_passes_every_request_on_as_it_has_no_cache(
    settings: Settings, smtp: SmtpSink, tmp_path: Path
) -> None:
    async with site("caddy", settings, smtp, tmp_path, PETITION_SERVER="granian") as running:
        async with running.client() as visitor:
            answers = [await visitor.get(COUNT) for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200]
            # No shared copy: no cache status, and petition's Cache-Control for browsers.
            assert all("x-cache" not in a.headers for a in answers)
            assert "stale-if-error=86400" in answers[1].headers["cache-control"]
            assert answers[1].headers["content-encoding"] == "gzip"
            assert "server" not in answers[1].headers  # neither Caddy nor granian

            page = await visitor.get(PAGE)
            assert page.status_code == 200
            assert "content-encoding" not in page.headers
            assert "server" not in page.headers

            big = await visitor.post(PAGE, content=b"x" * 100_000)
            assert big.status_code == 413
            assert "content-security-policy" not in big.headers
            assert (await visitor.get("/metrics")).status_code == 404

        async with httpx.AsyncClient(timeout=15) as plain:
            redirected = await plain.get(f"{running.proxy.http_url}{PAGE}")
        assert redirected.status_code in {301, 308}
        # To the HTTPS port Caddy was given (https_port): 443 when it faces the internet.
        assert redirected.headers["location"] == f"https://127.0.0.1{PAGE}"

        await running.stop_petition()
        async with running.client() as visitor:
            down = await visitor.get(COUNT)
        assert down.status_code == 502  # no copy kept: nothing to serve while petition is down
        assert SLUG not in running.proxy.log_text()  # no access log


@pytest.mark.parametrize("kind", ["nginx", "caddy"])
async def test_a_confirmation_reaches_a_live_count_watcher_through_the_proxy(
    kind: str, settings: Settings, smtp: SmtpSink, tmp_path: Path
) -> None:
    async with (
        site(kind, settings, smtp, tmp_path) as running,
        running.client() as watcher,
        watcher.stream("GET", EVENTS, headers={"Accept": "text/event-stream"}) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers
        lines = stream.aiter_lines()
        # Unbuffered: the first event arrives while the endless response is still open.
        assert (await _next_count(lines, within=10))["count"] == 0
        assert not stream.is_closed

        async with running.client() as signer_browser:
            assert (await sign(signer_browser, SLUG, signer())).status_code == 303
            [mail] = await smtp.wait_for(1, within=20)
            assert (await press(signer_browser, link(mail, "confirm"))).status_code == 303

        pushed = await _next_count(lines, within=20)
        assert pushed["count"] == 1


@pytest.mark.parametrize("kind", ["nginx", "caddy"])
async def test_the_proxy_tells_petition_the_visitors_own_address_whatever_they_claim(
    kind: str, settings: Settings, smtp: SmtpSink, tmp_path: Path
) -> None:
    limit = 3
    async with site(
        kind, settings, smtp, tmp_path, PETITION_LOGIN_ATTEMPTS_PER_CLIENT=str(limit)
    ) as running:
        async with running.client(local_address="127.0.0.2") as guesser:
            # Each attempt on another account, each claiming to come from another address.
            tried = [
                await _login(guesser, f"organiser{n}@example.org", f"203.0.113.{n}")
                for n in range(limit + 1)
            ]
        async with running.client(local_address="127.0.0.3") as neighbour:
            theirs = await _login(neighbour, "someone@example.org", "203.0.113.1")

    # Still one visitor: the claimed addresses were replaced by the real one, 127.0.0.2.
    assert tried == [400] * limit + [429]
    # Another visitor behind the same proxy has attempts of their own.
    assert theirs == 400


async def _login(client: httpx.AsyncClient, email: str, claimed: str) -> int:
    """A failed login sent with `X-Forwarded-For: claimed`; its status (400 wrong, 429 too many)."""
    spoofed = {"X-Forwarded-For": claimed}
    page = await client.get(LOGIN, headers=spoofed)
    assert page.status_code == 200
    fields = {"_csrf_token": csrf_of(page), "email": email, "password": "not-the-password"}
    return (await client.post(LOGIN, data=fields, headers=spoofed)).status_code


def test_the_systemd_units_are_valid(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The command as `make setup` installs it in /opt/petition: systemd checks that it exists.
    installed = "/opt/petition/.venv/bin/petition"
    petition = str(Path(sys.executable).parent / "petition")
    for name in ("petition.service", "petition-worker.service"):
        text = (proxies.OPS / name).read_text()
        assert installed in text
        (tmp_path / name).write_text(text.replace(installed, petition))
    units = [str(tmp_path / "petition.service"), str(tmp_path / "petition-worker.service")]
    checked = subprocess.run(  # noqa: S603  # a fixed argument list, no shell
        [analyze, "verify", *units], capture_output=True, text=True, timeout=60
    )
    # Unknown keys and bad values are only warnings for systemd: none is accepted here.
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


async def _next_count(lines: AsyncIterator[str], within: float) -> dict[str, object]:
    """The next event's data from a Server-Sent Events stream (comments skipped)."""
    async with asyncio.timeout(within):
        async for line in lines:
            if line.startswith("data:"):
                data: dict[str, object] = json.loads(line.removeprefix("data:"))
                return data
    raise AssertionError("the stream ended")


async def _until(
    client: httpx.AsyncClient,
    path: str,
    done: Callable[[httpx.Response], bool],
    within: float = 20,
) -> httpx.Response:
    """GET `path` until `done(response)`; the last response after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await client.get(path)
        if done(response) or loop.time() > deadline:
            return response
        await asyncio.sleep(0.2)
