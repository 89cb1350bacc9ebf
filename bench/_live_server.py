"""What `count_reads.py` and `sse_watchers.py` share: a live server, real signing, /proc figures.

The server is started as in `sign_throughput.py` (whose helpers this reuses), but without an
SMTP server: mail is written as .eml files under `<var dir>/mail/`, and the bench reads the
confirmation link from there, as a person trying the product on one machine would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import httpx
import sign_throughput as st  # its directory is first on sys.path when a bench runs as a script

MAIL_TIMEOUT = 10.0  # the file backend writes within about a second; be generous under load
_CONFIRM_PATH = re.compile(r"/confirm/[A-Za-z0-9_\-.~%]+")
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
_VM_RSS = re.compile(r"^VmRSS:\s+(\d+) kB$", re.MULTILINE)
# Expected with the file mail backend, so not a problem worth reporting.
_EXPECTED_WARNING = "no PETITION_SMTP_HOST"


@dataclass(frozen=True, slots=True)
class LiveServer:
    pid: int
    port: int
    base_url: str
    mail_dir: Path
    log_path: Path
    database: st.Database


def raise_fd_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; return the new limit.

    Child processes inherit it: the server and the client processes started afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


@contextlib.contextmanager
def live_server(database_url: str | None) -> Iterator[LiveServer]:
    """An empty database with the `bench` campaign, and `petition serve` answering /healthz.

    On leaving (normally, on error or on Ctrl-C) the server is stopped by its PID (SIGTERM,
    SIGKILL after 10 s) and the temporary directory removed.
    """
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="petition-bench-")))
        database = st.prepare_database(database_url, workdir)
        port = st.free_port()
        env = st.server_env(workdir, database.url, port, smtp_port=None)
        st.create_campaign(env, workdir)
        log_path = workdir / "server.log"
        server = stack.enter_context(st.running_server(env, log_path))
        base_url = f"http://{st.HOST}:{port}"
        st.wait_until_healthy(server, base_url, log_path)
        yield LiveServer(server.pid, port, base_url, workdir / "mail", log_path, database)


def log_problems(server: LiveServer) -> list[str]:
    return [line for line in st.log_problems(server.log_path) if _EXPECTED_WARNING not in line]


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of a process, from Linux /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError as exc:
        raise st.BenchError(f"cannot read the server's memory in /proc: {exc}") from exc
    match = _VM_RSS.search(status)
    if match is None:
        raise st.BenchError(f"no VmRSS in /proc/{pid}/status")
    return int(match.group(1))


def cpu_seconds(pid: int) -> float:
    seconds = st.server_cpu_seconds(pid)
    if seconds is None:
        raise st.BenchError(f"cannot read the CPU time of process {pid} in /proc (Linux only)")
    return seconds


# --- Signing through HTTP ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingConfirmation:
    """A signature whose confirmation page was opened: POSTing its form confirms it."""

    client: httpx.AsyncClient  # holds the CSRF cookie the form's token goes with
    path: str  # /confirm/<token>
    csrf_token: str


def client(base_url: str) -> httpx.AsyncClient:
    # trust_env=False: no proxy from the environment may stand between us and loopback.
    return httpx.AsyncClient(base_url=base_url, timeout=st.REQUEST_TIMEOUT, trust_env=False)


async def sign(http: httpx.AsyncClient, index: int) -> str:
    """Fill in the campaign's form as signer `index`; return the address the mail goes to."""
    token = await st.csrf_token(http)
    form = st.signature_form(index, token)
    response = await http.post(st.CAMPAIGN_PATH, data=form)
    if response.status_code != 303:
        raise st.BenchError(f"signing answered {response.status_code}, not 303")
    return form["email"]


async def confirmation_path(mail_dir: Path, email: str) -> str:
    """Wait for the mail to `email` in the file backend's directory; return its /confirm/ path."""
    others: set[Path] = set()  # mails to other signers, read once
    try:
        async with asyncio.timeout(MAIL_TIMEOUT):
            # A directory has no event to wait on (short of inotify): poll it.
            while True:
                path = _find_link(mail_dir, email, others)
                if path is not None:
                    break
                await asyncio.sleep(st.POLL_INTERVAL)
    except TimeoutError:
        raise st.BenchError(
            f"no confirmation link to {email} in {mail_dir} after {MAIL_TIMEOUT:.0f} s"
        ) from None
    return path


def _find_link(mail_dir: Path, email: str, others: set[Path]) -> str | None:
    """A few small files, read in the event loop: the bench does nothing else meanwhile."""
    for path in sorted(mail_dir.glob("*.eml")) if mail_dir.is_dir() else []:
        if path in others:
            continue
        with contextlib.suppress(OSError):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if email not in str(message["To"]):
                others.add(path)
                continue
            body = message.get_body(("plain",))
            text = body.get_content() if isinstance(body, EmailMessage) else ""
            match = _CONFIRM_PATH.search(text)
            if match is not None:  # else perhaps read while being written: read it again
                return match.group(0)
    return None


async def open_confirmation(http: httpx.AsyncClient, path: str) -> PendingConfirmation:
    """GET the page the mail links to, for its form's CSRF token (and cookie)."""
    response = await http.get(path)
    match = _CSRF_INPUT.search(response.text)
    if response.status_code != 200 or match is None:
        raise st.BenchError(f"GET /confirm/… answered {response.status_code} without a form")
    return PendingConfirmation(http, path, match.group(1))


async def confirm(pending: PendingConfirmation) -> None:
    response = await pending.client.post(pending.path, data={"_csrf_token": pending.csrf_token})
    if response.status_code != 303:
        raise st.BenchError(f"POST /confirm/… answered {response.status_code}, not 303")


async def prepare_confirmation(
    http: httpx.AsyncClient, mail_dir: Path, index: int
) -> PendingConfirmation:
    """Sign as signer `index`, find the mail, open the confirmation page: one POST from done."""
    email = await sign(http, index)
    return await open_confirmation(http, await confirmation_path(mail_dir, email))
