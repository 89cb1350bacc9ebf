"""`petition doctor`: check a deployment's settings, line by line, changing nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
from dataclasses import asdict
from ipaddress import ip_address

from petition import doctor
from petition.doctor_findings import Finding, Options
from petition.settings import Settings

LABELS = {"ok": "ok", "warn": "warn", "fail": "FAIL"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check the settings, database, mail and DNS; send nothing, change nothing"
        " (exit 1 on any FAIL)",
        description="Check this deployment's settings, line by line: ok, warn or FAIL, with a"
        " fix for each problem. Reads the same PETITION_* variables as the server. Connects to"
        " the database, Redis and the SMTP server (EHLO, STARTTLS, QUIT: no login, no mail) and"
        " asks DNS about the sender's domain; writes nothing.",
    )
    parser.add_argument(
        "--offline", action="store_true", help="skip the network checks (SMTP and DNS)"
    )
    parser.add_argument(
        "--nameserver",
        type=nameserver,
        metavar="HOST[:PORT]",
        help="ask this DNS server rather than the system's (split DNS)",
    )
    parser.add_argument(
        "--dkim-selector",
        default="",
        metavar="SELECTOR",
        help="check the DKIM key at SELECTOR._domainkey.<sender's domain>",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(handler=_doctor)


def nameserver(text: str) -> tuple[str, int]:
    """`HOST`, `HOST:PORT`, `[IPv6]:PORT` or a bare IPv6 address, as (address, port)."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"))
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(rest)
    try:
        return str(ip_address(host)), port
    except ValueError:
        pass
    try:  # a name: the system's resolver finds the server we then ask
        found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot find {host}: {exc.strerror}") from exc
    return str(found[0][4][0]), port


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return int(text)


def _doctor(settings: Settings, args: argparse.Namespace) -> int:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its notes on reading the revision
    options = Options(
        offline=args.offline, nameserver=args.nameserver, dkim_selector=args.dkim_selector.strip()
    )
    findings = asyncio.run(doctor.examine(settings, options))
    failed = any(f.status == "fail" for f in findings)
    if args.json:
        report = {"ok": not failed, "findings": [asdict(f) for f in findings]}
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            print(render(finding))
    return 1 if failed else 0


def render(finding: Finding) -> str:
    """`ok|warn|FAIL  check: what`, then the hint on a line of its own when there is one."""
    line = f"{LABELS[finding.status]:<4}  {finding.check}: {finding.what}"
    return f"{line}\n      fix: {finding.hint}" if finding.hint else line
