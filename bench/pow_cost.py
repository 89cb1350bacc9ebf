"""What the proof of work costs: the signer's side (solving, in CPython here; browsers use
WebCrypto and are of the same order) against the server's (checking one solution).

    .venv/bin/python bench/pow_cost.py [--cost 5000] [--rounds 50]

Bounded: `rounds` challenges, each solved with a 90-second timeout. Touches no network.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import altcha

from petition import pow as proof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", type=int, default=5000, help="PBKDF2 iterations per attempt")
    parser.add_argument("--rounds", type=int, default=50, help="challenges to solve and check")
    args = parser.parse_args()
    secret = b"bench-" + b"k" * 40
    key = proof.hmac_key(secret)  # the bench checks exactly what the server checks
    solve_ms: list[float] = []
    check_ms: list[float] = []
    attempts: list[int] = []
    now = datetime.now(UTC)
    for _ in range(args.rounds):
        issued = proof.challenge(secret, 1, now, args.cost, timedelta(minutes=30))
        challenge = altcha.Challenge.from_dict(issued)
        started = time.perf_counter()
        solution = altcha.solve_challenge(challenge)
        solve_ms.append((time.perf_counter() - started) * 1000)
        if solution is None:
            raise SystemExit("a challenge was not solved within 90 s")
        attempts.append(solution.counter + 1)
        payload = altcha.Payload(challenge, solution)
        started = time.perf_counter()
        verified = altcha.verify_solution(payload, key).verified
        check_ms.append((time.perf_counter() - started) * 1000)
        if not verified:
            raise SystemExit("a correct solution was refused")
    print(f"cost {args.cost}, {args.rounds} challenges")
    print(f"attempts: mean {statistics.mean(attempts):.0f}, max {max(attempts)}")
    for name, values in (("solve", solve_ms), ("check", check_ms)):
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(values)
        print(f"{name} ms: median {median:.1f}, p90 {p90:.1f}, max {max(values):.1f}")


if __name__ == "__main__":
    main()
