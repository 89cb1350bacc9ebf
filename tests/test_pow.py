"""The proof of work's search: as many PBKDF2 iterations for a browser as before (256 attempts of
`pow_cost`), now in short attempts, of which the server derives one to check a solution. The
rules a spoilt or forged solution trips are tested in tests/flows/test_abuse.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import altcha
import altcha.v2 as altcha_v2  # its canonical JSON, the reference our quick check must match
import httpx
import pytest
from sqlalchemy import select

from petition import pow as proof
from petition.db import SessionFactory
from petition.models import AbuseSignal, Signature
from petition.settings import Settings
from tests.support.clock import FakeClock
from tests.support.journey import hidden_fields, signer
from tests.support.server import serve

SLUG = "mission-sante"


@pytest.mark.parametrize("cost", [1, 10, 100, 5000, 50_000])
def test_the_browser_computes_256_times_the_cost_in_attempts_of_312_iterations_at_most(
    cost: int,
) -> None:
    iterations, attempts = proof.search(cost)
    assert iterations <= proof.ATTEMPT_ITERATIONS == 312
    assert abs(iterations * attempts - 256 * cost) <= iterations / 2


async def challenge_of(browser: httpx.AsyncClient) -> altcha.Challenge:
    answer = await browser.get(f"/c/{SLUG}/challenge")
    assert answer.status_code == 200
    return altcha.Challenge.from_dict(answer.json())


def solved(challenge: altcha.Challenge) -> altcha.Payload:
    solution = altcha.solve_challenge(challenge, timeout=30)
    assert solution is not None
    return altcha.Payload(challenge, solution)


async def send(browser: httpx.AsyncClient, last_name: str, work: str) -> httpx.Response:
    page = await browser.get(f"/c/{SLUG}")
    fields = signer(f"{last_name.lower()}@example.org", last_name=last_name)
    return await browser.post(f"/c/{SLUG}", data={**hidden_fields(page), **fields, "altcha": work})


async def recorded(sessions: SessionFactory) -> tuple[dict[str, str | None], list[str]]:
    """Signatures by last name with the rule holding them, and the abuse signals."""
    async with sessions() as session:
        rows = await session.execute(select(Signature.last_name, Signature.quarantine_rule))
        signals = await session.scalars(select(AbuseSignal.rule))
        return {str(name): rule for name, rule in rows.all()}, list(signals)


@pytest.mark.usefixtures("campaign")
async def test_at_the_default_cost_the_key_found_is_checked_by_its_signature_and_the_form_signs(
    settings: Settings, clock: FakeClock, sessions: SessionFactory
) -> None:
    async with serve(settings, clock) as server, server.client() as browser:
        work = solved(await challenge_of(browser))
        answer = await send(browser, "Default", work.to_base64())
    assert (answer.status_code, answer.headers["location"]) == (303, f"/c/{SLUG}/thanks")
    assert work.challenge.parameters.cost == 312
    # The server signed the key when it drew the counter: a check is one HMAC, no derivation.
    assert work.challenge.parameters.key_signature
    assert work.solution.counter + 1 <= 2 * proof.search(Settings().pow_cost)[1] - 1
    assert await recorded(sessions) == ({"Default": None}, [])


@pytest.mark.usefixtures("campaign")
async def test_the_search_never_takes_twice_the_expected_attempts(
    settings: Settings, clock: FakeClock
) -> None:
    site = dataclasses.replace(settings, pow_cost=100)  # 82 attempts expected, 163 at most
    iterations, attempts = proof.search(site.pow_cost)
    async with serve(site, clock) as server, server.client() as browser:
        found = [solved(await challenge_of(browser)) for _ in range(12)]
    assert {work.challenge.parameters.cost for work in found} == {iterations}
    assert all(work.solution.counter + 1 < 2 * attempts for work in found)


def cheaper(work: altcha.Payload) -> str:
    """A forger's challenge: one iteration and the key of counter 0, the signature kept."""
    parameters = work.challenge.parameters
    parameters.cost = 1
    salt, nonce = bytes.fromhex(parameters.salt), bytes.fromhex(parameters.nonce)
    key = altcha.derive_key_pbkdf2(parameters, salt, nonce + bytes(4))
    parameters.key_prefix = key[:16].hex()
    return altcha.Payload(work.challenge, altcha.Solution(0, key.hex())).to_base64()


def prefix_padded(work: altcha.Payload) -> str:
    """The half of the key the challenge shows, the other half made up: no search at all."""
    shown = work.challenge.parameters.key_prefix
    made_up = shown + "0" * (64 - len(shown))
    return altcha.Payload(work.challenge, altcha.Solution(0, made_up)).to_base64()


def other_counter(work: altcha.Payload) -> str:
    """A counter guessed, with its key honestly derived: it is not the one drawn."""
    parameters = work.challenge.parameters
    counter = work.solution.counter + 1
    salt, nonce = bytes.fromhex(parameters.salt), bytes.fromhex(parameters.nonce)
    key = altcha.derive_key_pbkdf2(parameters, salt, nonce + counter.to_bytes(4, "big"))
    return altcha.Payload(work.challenge, altcha.Solution(counter, key.hex())).to_base64()


@pytest.mark.usefixtures("campaign")
@pytest.mark.parametrize("forge", [cheaper, prefix_padded, other_counter])
async def test_a_solution_that_skips_the_search_is_answered_alike_and_not_recorded(
    forge: Callable[[altcha.Payload], str],
    settings: Settings,
    clock: FakeClock,
    sessions: SessionFactory,
) -> None:
    cheap = dataclasses.replace(settings, pow_cost=10)  # 8 attempts of 312 iterations
    async with serve(cheap, clock) as server, server.client() as browser:
        good = await send(browser, "Honest", solved(await challenge_of(browser)).to_base64())
        bad = await send(browser, "Forged", forge(solved(await challenge_of(browser))))
    assert bad.status_code == good.status_code == 303
    assert bad.headers["location"] == good.headers["location"] == f"/c/{SLUG}/thanks"
    assert await recorded(sessions) == ({"Honest": None}, [proof.INVALID])


@pytest.mark.parametrize("campaign_id", [1, 42, 2**31 - 1])
def test_what_we_sign_is_written_as_the_library_writes_it(campaign_id: int) -> None:
    """The quick check recomputes the challenge's signature with json.dumps; for every
    challenge we issue that must be, to the byte, the library's JSON.stringify-like text."""
    now = datetime.now(UTC)
    for cost in (1, 10, 5000):
        issued = proof.challenge(b"s" * 32, campaign_id, now, cost, timedelta(minutes=30))
        parameters = altcha.Challenge.from_dict(issued).parameters.to_dict()
        assert proof.canonical(parameters) == altcha_v2._canonical_json(parameters)
