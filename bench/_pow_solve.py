"""Proofs of work for `side_by_side.py`: challenges solved with the `altcha` package in parallel
processes, whatever format petition.pow issues (ALTCHA v2, with `parameters`, or v1), and a
probe of what the server's check costs at a given `PETITION_POW_COST`.

The probe decides how low the bench may set the cost: a signer's search grows with the cost,
but the server's check may not (petition.pow derives one short attempt whatever the cost). The
bench takes the lowest cost whose check costs the server what the product's default costs it,
so that the figures leave nothing of the server's work out while the bench solves thousands.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha
import altcha.v1

SOLVE_TIMEOUT = 90.0  # seconds for one challenge (the library's own bound)
PROBE_SECRET = b"bench-probe-" + b"k" * 40
PROBE_CANDIDATES = (10, 100, 1000)  # tried in this order, below the product's default
# A cost whose fastest check is within this of the default's is as costly for the server (the
# fastest of several: the least disturbed by whatever else the machine does).
PROBE_TOLERANCE_MS = 0.05
PROBE_TOLERANCE_SHARE = 0.10


class SolveError(Exception):
    """A challenge could not be solved (format unknown, or no solution within the timeout)."""


def solve(challenge: dict[str, Any]) -> str:
    """The `altcha` form field for this challenge: its solution, as the widget sends it."""
    if "parameters" in challenge:  # ALTCHA v2: a key derivation to meet
        parsed = altcha.Challenge.from_dict(challenge)
        solution = altcha.solve_challenge(parsed, timeout=SOLVE_TIMEOUT)
        if solution is None:
            raise SolveError("no solution within the timeout")
        return altcha.Payload(parsed, solution).to_base64()
    maximum = challenge.get("maxnumber", challenge.get("maxNumber"))
    if maximum is None or "salt" not in challenge or "challenge" not in challenge:
        raise SolveError(f"unknown challenge format: {sorted(challenge)}")
    found = altcha.v1.solve_challenge(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], int(maximum)
    )
    if found is None:
        raise SolveError("no number up to maxnumber solves the challenge")
    payload = altcha.v1.Payload(
        challenge["algorithm"],
        challenge["challenge"],
        found.number,
        challenge["salt"],
        challenge["signature"],
    )
    return payload.to_base64()


def _solve_many(challenges: list[dict[str, Any]]) -> list[str]:
    return [solve(challenge) for challenge in challenges]


def _use_every_cpu() -> None:
    """The bench pins itself to the load generator's CPU; solving happens before the timed runs,
    while the servers are idle, and may use both."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


def pool(processes: int) -> concurrent.futures.ProcessPoolExecutor:
    # spawn: the bench has threads (the SMTP sink); a fork would copy them half-way.
    return concurrent.futures.ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context("spawn"), initializer=_use_every_cpu
    )


def solve_all(
    executor: concurrent.futures.ProcessPoolExecutor,
    challenges: Sequence[dict[str, Any]],
    processes: int,
) -> list[str]:
    """Solve every challenge, in order, shared out between the processes in chunks."""
    chunk = max(1, min(256, len(challenges) // (processes * 4) or 1))
    parts = [list(challenges[i : i + chunk]) for i in range(0, len(challenges), chunk)]
    futures = [executor.submit(_solve_many, part) for part in parts]
    # Each chunk is bounded by the library's timeout per challenge; the whole by their sum.
    limit = SOLVE_TIMEOUT * chunk + 60
    solved: list[str] = []
    for future in futures:
        solved.extend(future.result(timeout=limit))
    return solved


@dataclass(frozen=True, slots=True)
class Probe:
    """What the server's check of one solution costs, at the default and at the bench's cost."""

    default_cost: int
    default_check_ms: float
    cost: int  # the lowest as costly for the server (the default if none was)
    check_ms: float
    tried: dict[int, float]  # cost → fastest check, ms


def probe(
    executor: concurrent.futures.ProcessPoolExecutor, default_cost: int, rounds: int = 9
) -> Probe:
    """Time petition.pow.check (the server's own code, on an in-memory SQLite session) for
    solutions of challenges issued by petition.pow.challenge at the default cost and below."""
    from petition import pow as proof  # the code under test, as it is now

    now = datetime.now(UTC)
    valid = timedelta(minutes=30)
    costs = [c for c in PROBE_CANDIDATES if c < default_cost] + [default_cost]
    issued = {
        cost: [proof.challenge(PROBE_SECRET, 1, now, cost, valid) for _ in range(rounds)]
        for cost in costs
    }
    flat = [challenge for cost in costs for challenge in issued[cost]]
    payloads = solve_all(executor, flat, os.cpu_count() or 1)
    by_cost = {cost: payloads[i * rounds : (i + 1) * rounds] for i, cost in enumerate(costs)}
    tried = asyncio.run(_time_checks(by_cost, now))
    default_ms = tried[default_cost]
    allowed = default_ms - max(PROBE_TOLERANCE_MS, PROBE_TOLERANCE_SHARE * default_ms)
    chosen = next(cost for cost in costs if tried[cost] >= allowed)
    return Probe(default_cost, default_ms, chosen, tried[chosen], tried)


async def _time_checks(by_cost: dict[int, list[str]], now: datetime) -> dict[int, float]:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from petition import pow as proof
    from petition.models import SpentChallenge

    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SpentChallenge.__table__.create)  # type: ignore[attr-defined]  # a mapped class's table
        async with AsyncSession(engine) as session, session.begin():
            # Once each first, untimed: imports and caches on the first check of each kind.
            for payloads in by_cost.values():
                await proof.check(session, PROBE_SECRET, payloads[0], 1, now)
            times: dict[int, list[float]] = {cost: [] for cost in by_cost}
            rounds = min(len(payloads) for payloads in by_cost.values())
            for index in range(1, rounds):  # interleaved: drift in the machine hits all alike
                for cost, payloads in by_cost.items():
                    started = time.perf_counter()
                    broken = await proof.check(session, PROBE_SECRET, payloads[index], 1, now)
                    times[cost].append((time.perf_counter() - started) * 1000)
                    if broken is not None:
                        raise SolveError(f"petition.pow.check refused a solution: {broken}")
        return {cost: round(min(ms), 4) for cost, ms in times.items()}
    finally:
        await engine.dispose()
