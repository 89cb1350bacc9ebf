"""What the proof of work costs, before and after its search was split into short attempts: the
signer's side (the work expected, and solving in CPython here; browsers use WebCrypto) against
the server's (issuing a challenge, checking one solution), both schemes in the same run.

    .venv/bin/python bench/pow_cost.py [--cost 5000] [--rounds 40] [--repeat 20]

"before" is the scheme this repository used until 2026-12-01 (PBKDF2-SHA-256, `cost`
iterations per attempt, key prefix "00"); "after" is `petition.pow.challenge` as the server
issues it. Bounded: `rounds` challenges of each, each solved with a 90-second timeout; every
issue and check is repeated `repeat` times and its median kept. Touches no network.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha

from petition import pow as proof

SECRET = b"bench-" + b"k" * 40
KEY = proof.hmac_key(SECRET)  # the bench checks exactly what the server checks
DATA = {"campaign": 1, "expires": 2**31}
Issuer = Callable[[int], dict[str, Any]]


def issue_before(cost: int) -> dict[str, Any]:
    challenge = altcha.create_challenge(
        "PBKDF2/SHA-256", cost, key_prefix="00", data=DATA, hmac_secret=KEY
    )
    return dict(challenge.to_dict())


def issue_after(cost: int) -> dict[str, Any]:
    return proof.challenge(SECRET, 1, datetime.now(UTC), cost, timedelta(minutes=30))


def check(payload: str) -> bool:
    """What `petition.pow.check` does before the database: parse, verify signature and key."""
    return proof.verified(altcha.Payload.from_base64(payload), SECRET)


def derive(challenge: altcha.Challenge, counter: int) -> bytes:
    """The key derivation of one attempt: what issuing costs, and a check of an unsigned key."""
    parameters = challenge.parameters
    password = bytes.fromhex(parameters.nonce) + counter.to_bytes(4, "big")
    return altcha.derive_key_pbkdf2(parameters, bytes.fromhex(parameters.salt), password)


def median_us(repeat: int, action: Callable[..., object], *args: Any) -> float:
    """CPU time of this thread, not wall time: other processes on the machine do not count."""
    timings = []
    for _ in range(repeat):
        started = time.thread_time_ns()
        action(*args)
        timings.append((time.thread_time_ns() - started) / 1000)
    return statistics.median(timings)


def one_round(issue: Issuer, cost: int, repeat: int) -> dict[str, float]:
    """Issue, solve and check one challenge; the figures of that round."""
    issue_us = median_us(repeat, issue, cost)
    challenge = altcha.Challenge.from_dict(issue(cost))
    started = time.perf_counter()
    solution = altcha.solve_challenge(challenge)
    solve_ms = (time.perf_counter() - started) * 1000
    if solution is None:
        raise SystemExit("a challenge was not solved within 90 s")
    payload = altcha.Payload(challenge, solution).to_base64()
    if not check(payload):
        raise SystemExit("a correct solution was refused")
    return {
        "iterations": challenge.parameters.cost,
        "attempts": solution.counter + 1,
        "solve_ms": solve_ms,
        "issue_us": issue_us,
        "check_us": median_us(repeat, check, payload),
        "derive_us": median_us(repeat, derive, challenge, solution.counter),
    }


def print_scheme(name: str, cost: int, rounds: list[dict[str, float]]) -> None:
    iterations = int(rounds[0]["iterations"])
    attempts = [r["attempts"] for r in rounds]
    expected = {"before": 256, "after": proof.search(cost)[1]}[name]
    print(f"{name}: {iterations} PBKDF2 iterations per attempt")
    print(
        f"  browser's work: {expected:,} attempts expected, {expected * iterations:,}"
        f" iterations; here mean {statistics.mean(attempts):,.0f}, max {max(attempts):,.0f}"
    )
    for key, label in (
        ("solve_ms", "solve ms"),
        ("issue_us", "issue, CPU µs"),
        ("check_us", "check, CPU µs"),
        ("derive_us", "one derivation, CPU µs (a check repeats it only for a key not signed)"),
    ):
        ordered = sorted(r[key] for r in rounds)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(ordered)
        print(f"  {label}: median {median:,.1f}, p90 {p90:,.1f}, max {ordered[-1]:,.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", type=int, default=5000, help="settings.pow_cost")
    parser.add_argument("--rounds", type=int, default=40, help="challenges of each scheme")
    parser.add_argument("--repeat", type=int, default=20, help="timings per issue and check")
    args = parser.parse_args()
    print(f"cost {args.cost}, {args.rounds} challenges of each scheme")
    schemes: tuple[tuple[str, Issuer], ...] = (("before", issue_before), ("after", issue_after))
    for name, issue in schemes:
        rounds = [one_round(issue, args.cost, args.repeat) for _ in range(args.rounds)]
        print_scheme(name, args.cost, rounds)


if __name__ == "__main__":
    main()
