"""Real nginx and Caddy in front of a real `petition serve`, loaded with the shipped site files.

ops/nginx.conf and ops/Caddyfile are read as they are shipped; only the values they document as
the ones to adapt (name, certificate, ports, upstream, cache directory) are replaced, literally,
and each must be found. Every file a server writes stays in the test's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.smtp import free_port

OPS = Path(__file__).resolve().parents[2] / "ops"
# Set by .ci/run: there, a missing nginx, Caddy or openssl is a failure, not a skip.
REQUIRED = os.environ.get("PETITION_TEST_REQUIRE_PROXIES") == "1"
HOST = "127.0.0.1"
# The shipped files' own values, replaced by the tests' (see the heads of both files).
NAME = "petitions.example.org"
UPSTREAM = "127.0.0.1:8000"
NGINX_CERT = "/etc/letsencrypt/live/petitions.example.org/fullchain.pem"
NGINX_KEY = "/etc/letsencrypt/live/petitions.example.org/privkey.pem"
NGINX_CACHE = "/var/cache/nginx/petition"
NGINX_ERRORS = "/var/log/nginx/error.log"
STARTS_WITHIN = 15.0
STOPS_WITHIN = 10.0


def program(name: str) -> str:
    """The path of a program (sbin directories included), or a skip saying it is missing."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        unavailable(f"{name} is not installed")
    assert found is not None
    return found


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"PETITION_TEST_REQUIRE_PROXIES=1 but {reason}")
    pytest.skip(f"{reason} (the reverse-proxy tests need nginx, caddy and openssl)")


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def trusted(self) -> ssl.SSLContext:
        """What a client trusts to talk to the proxy: this certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))


def certificate(directory: Path) -> Certificate:
    """A throwaway self-signed certificate for 127.0.0.1 and localhost, valid two days."""
    openssl = program("openssl")
    made = Certificate(directory / "cert.pem", directory / "key.pem")
    subprocess.run(  # noqa: S603  # a fixed argument list, no shell
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(made.key), "-out", str(made.cert),
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return made


@dataclass(frozen=True)
class Ports:
    https: int
    http: int

    @classmethod
    def free(cls) -> Ports:
        return cls(https=free_port(), http=free_port())

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.https}"


def replaced(text: str, replacements: dict[str, str]) -> str:
    """`text` with each key replaced by its value; a key the shipped file lacks is a failure."""
    for old, new in replacements.items():
        assert old in text, f"the shipped file no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def nginx_site(upstream: str, cert: Certificate, ports: Ports, cache: Path, errors: Path) -> str:
    """ops/nginx.conf with the test's name, certificate, ports, upstream, cache directory and
    error log."""
    return replaced(
        (OPS / "nginx.conf").read_text(),
        {
            NGINX_CERT: str(cert.cert),
            NGINX_KEY: str(cert.key),
            NAME: "localhost",
            "listen 443 ": f"listen {HOST}:{ports.https} ",
            "listen 80;": f"listen {HOST}:{ports.http};",
            UPSTREAM: upstream,
            NGINX_CACHE: str(cache),
            NGINX_ERRORS: str(errors),
        },
    )


def nginx_main(directory: Path, site: Path) -> str:
    """A minimal main nginx.conf around the site, with what Debian's own turns on for every site
    (an access log, gzip), which the site must turn off where it has to."""
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""  # root's workers stay root
    mime = Path("/etc/nginx/mime.types")
    return f"""
daemon off;
{user}
worker_processes 1;
pid {directory}/nginx.pid;
lock_file {directory}/nginx.lock;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    {f"include {mime};" if mime.exists() else ""}
    default_type application/octet-stream;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    access_log {directory}/access.log;
    gzip on;
    include {site};
}}
"""


def caddyfile(upstream: str, cert: Certificate, ports: Ports, directory: Path) -> str:
    """ops/Caddyfile with the test's address, certificate and upstream, and global options that
    keep Caddy to the test's ports and directory (no admin endpoint, no ACME)."""
    options = (
        "\n{\n\tadmin off\n"
        f"\thttp_port {ports.http}\n\thttps_port {ports.https}\n"
        f"\tstorage file_system {directory}/data\n"
        "\tskip_install_trust\n\tgrace_period 2s\n"
    )
    return replaced(
        (OPS / "Caddyfile").read_text(),
        {
            "\n{\n": options,  # the global options block opens the file's only such line
            f"\n{NAME} {{\n": f"\n{ports.base_url} {{\n\ttls {cert.cert} {cert.key}\n",
            UPSTREAM: upstream,
        },
    )


@dataclass(frozen=True)
class Proxy:
    base_url: str  # https://127.0.0.1:port
    http_url: str  # the plain-HTTP port, which redirects
    pid: int
    directory: Path
    log: Path  # what the server wrote on its standard error (and nginx's error log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def nginx_test(directory: Path, upstream: str, cert: Certificate, ports: Ports) -> str:
    """`nginx -t` on the shipped site: raises with nginx's words when it refuses."""
    main = _nginx_files(directory, upstream, cert, ports)
    found = subprocess.run(  # noqa: S603  # a fixed argument list, no shell
        [program("nginx"), "-t", "-p", str(directory), "-e", str(directory / "error.log"),
         "-c", str(main)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    return found.stderr


def _nginx_files(directory: Path, upstream: str, cert: Certificate, ports: Ports) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    site = directory / "petition.conf"
    site.write_text(nginx_site(upstream, cert, ports, directory / "cache", directory / "error.log"))
    main = directory / "nginx.conf"
    main.write_text(nginx_main(directory, site))
    return main


@asynccontextmanager
async def nginx(
    directory: Path, upstream: str, cert: Certificate, ports: Ports
) -> AsyncIterator[Proxy]:
    """nginx with the shipped site in front of `upstream`, until the block ends."""
    main = _nginx_files(directory, upstream, cert, ports)
    error_log = directory / "error.log"
    argv = [program("nginx"), "-p", str(directory), "-e", str(error_log), "-c", str(main)]
    async with _running(argv, dict(os.environ), directory, ports, error_log) as pid:
        yield Proxy(ports.base_url, f"http://{HOST}:{ports.http}", pid, directory, error_log)


@asynccontextmanager
async def caddy(
    directory: Path, upstream: str, cert: Certificate, ports: Ports
) -> AsyncIterator[Proxy]:
    """Caddy with the shipped Caddyfile in front of `upstream`, until the block ends."""
    config = _caddy_files(directory, upstream, cert, ports)
    env = {
        **os.environ,
        "HOME": str(directory),
        "XDG_CONFIG_HOME": str(directory / "config"),
        "XDG_DATA_HOME": str(directory / "data"),
    }
    argv = [program("caddy"), "run", "--config", str(config), "--adapter", "caddyfile"]
    log = directory / "caddy.log"
    async with _running(argv, env, directory, ports, log) as pid:
        yield Proxy(ports.base_url, f"http://{HOST}:{ports.http}", pid, directory, log)


def _caddy_files(directory: Path, upstream: str, cert: Certificate, ports: Ports) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "Caddyfile"
    config.write_text(caddyfile(upstream, cert, ports, directory))
    return config


@asynccontextmanager
async def _running(
    argv: list[str], env: dict[str, str], directory: Path, ports: Ports, log: Path
) -> AsyncIterator[int]:
    """Start a server in a process group of its own; yield its PID once both ports answer;
    then SIGTERM, and SIGKILL to the whole group if it has not stopped in time."""
    with (directory / "stderr.log").open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=directory, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=stderr, stderr=stderr, start_new_session=True,
        )  # fmt: skip
        try:
            await _until_listening(process, (ports.https, ports.http), directory, log)
            yield process.pid
        finally:
            await _stop(process)


async def _until_listening(
    process: asyncio.subprocess.Process, ports: tuple[int, ...], directory: Path, log: Path
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTS_WITHIN
    waiting = list(ports)
    while waiting:
        if process.returncode is not None or loop.time() > deadline:
            said = _said(directory / "stderr.log", log)
            raise RuntimeError(f"{process.returncode=}, not listening on {waiting}:\n{said}")
        try:
            _reader, writer = await asyncio.open_connection(HOST, waiting[0])
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        waiting.pop(0)


def _said(*logs: Path) -> str:
    return "".join(log.read_text(errors="replace") for log in dict.fromkeys(logs) if log.exists())


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()  # nginx: fast shutdown; Caddy: its grace period, then closed
    try:
        await asyncio.wait_for(process.wait(), timeout=STOPS_WITHIN)
    except TimeoutError:
        # Its group, whose leader is still there: the server and what it started (workers).
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
