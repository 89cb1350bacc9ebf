"""Pages while a crowd tries to sign in: how slow do /healthz and a campaign page get?

A failed login costs an argon2id hash (64 MiB, several threads) whether or not the account
exists, so anyone can make the server hash at will. This bench starts `petition serve` as
`sign_throughput.py` does, then, for `--seconds` each:

1. quiet: probes `GET /healthz` and `GET /c/bench` one after the other, every 50 ms;
2. flood: the same probes while `--logins` clients post wrong passwords without pause, each
   attempt for another account and from another client address (the server believes
   X-Forwarded-For from 127.0.0.1 here), so that no throttle spares the hashing work.

It prints the probes' p50, p95 and max in both phases and how many logins were answered a second.
Loopback only, bounded by `--seconds`; the server is stopped by its PID at the end.

    .venv/bin/python bench/login_flood.py [--logins 20] [--seconds 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import sign_throughput as st  # its directory is first on sys.path when a bench runs as a script

PROBE_EVERY = 0.05
PROBES = ("/healthz", st.CAMPAIGN_PATH)


@dataclass
class Phase:
    probes: dict[str, dict[str, float]] = field(default_factory=dict)
    logins_per_second: float = 0.0
    login_statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    revision: str
    logins: int
    seconds: float
    quiet: Phase
    flood: Phase


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=20, help="concurrent login clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="petition-bench-") as tmp:
        workdir = Path(tmp)
        database = st.prepare_database(None, workdir)
        port = st.free_port()
        env = st.server_env(workdir, database.url, port, smtp_port=None)
        env["PETITION_TRUSTED_PROXIES"] = st.HOST
        st.create_campaign(env, workdir)
        log_path = workdir / "server.log"
        base_url = f"http://{st.HOST}:{port}"
        with st.running_server(env, log_path) as server:
            st.wait_until_healthy(server, base_url, log_path)
            report = asyncio.run(_measure(base_url, options.logins, options.seconds))
    _print(report)
    if options.json:
        options.json.write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
    return 0


async def _measure(base_url: str, logins: int, seconds: float) -> Report:
    quiet = Phase(probes=await _probe(base_url, seconds))
    stop = asyncio.Event()
    statuses: dict[str, int] = {}
    floods = [asyncio.create_task(_guess(base_url, n, stop, statuses)) for n in range(logins)]
    await asyncio.sleep(1.0)  # the flood is under way before the probes start
    started = time.monotonic()
    answered_before = sum(statuses.values())
    probes = await _probe(base_url, seconds)
    answered = sum(statuses.values()) - answered_before
    rate = answered / (time.monotonic() - started)
    stop.set()
    await asyncio.gather(*floods)
    flood = Phase(probes=probes, logins_per_second=rate, login_statuses=dict(statuses))
    return Report(st.source_revision(), logins, seconds, quiet, flood)


async def _probe(base_url: str, seconds: float) -> dict[str, dict[str, float]]:
    timings: dict[str, list[float]] = {path: [] for path in PROBES}
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for path in PROBES:
                began = time.monotonic()
                answer = await client.get(path)
                if answer.status_code != 200:
                    raise st.BenchError(f"GET {path} answered {answer.status_code}")
                timings[path].append(time.monotonic() - began)
            await asyncio.sleep(PROBE_EVERY)
    return {path: _summary(values) for path, values in timings.items()}


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    points = {"p50_ms": 0.50, "p95_ms": 0.95, "max_ms": 1.0}
    return {name: round(st.percentile(ordered, q) * 1000, 1) for name, q in points.items()}


async def _guess(base_url: str, n: int, stop: asyncio.Event, statuses: dict[str, int]) -> None:
    """One client guessing without pause, every attempt another account and address."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as client:
        token = (await st.csrf_token(client)).partition("|")[0]  # the form's token, not its stamp
        attempt = 0
        while not stop.is_set():
            attempt += 1
            form = {
                "_csrf_token": token,
                "email": f"guess-{n}-{attempt}@example.org",
                "password": "not the password, again",
            }
            client_address = f"10.{n}.{attempt // 250 % 250}.{attempt % 250 + 1}"
            with contextlib.suppress(httpx.TransportError):
                answer = await client.post(
                    "/organiser/login", data=form, headers={"X-Forwarded-For": client_address}
                )
                key = str(answer.status_code)
                statuses[key] = statuses.get(key, 0) + 1


def _print(r: Report) -> None:
    print(f"revision {r.revision}: {r.logins} login clients, {r.seconds:.0f} s a phase")
    for name, phase in (("quiet", r.quiet), ("flood", r.flood)):
        for path, summary in phase.probes.items():
            print(
                f"  {name:5} GET {path:12} p50 {summary['p50_ms']:7.1f} ms"
                f"  p95 {summary['p95_ms']:7.1f} ms  max {summary['max_ms']:7.1f} ms"
            )
    print(f"  logins answered: {r.flood.logins_per_second:.1f}/s {r.flood.login_statuses}")


if __name__ == "__main__":
    raise SystemExit(main())
